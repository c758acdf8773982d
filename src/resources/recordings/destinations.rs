//! `rtc.recording.destination.*`: a project's own storage for its recordings. The
//! credentials are sealed before they are stored and never come back out (`resources::storage`
//! unseals them only to hand them to the vendor for a recording).

use serde_json::{json, Map, Value};

use crate::api::body::Body;
use crate::api::paging;
use crate::api::{Ctx, Reply};
use crate::domain::ids;
use crate::domain::limits::Quota;
use crate::domain::recording_destination::{self, Kind, StorageCredentials};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::storage::sealing_key;
use crate::store::destinations::{self, StoredDestination};

/// The largest GCP service-account document accepted.
const MAX_GCP_CREDENTIALS: usize = 16 * 1024;

pub async fn create(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let key = sealing_key(&ctx.app.settings)?;
    let mut body = Body::parse(&ctx.req.body)?;
    let uri = body.required_str("uri", 1024)?;
    let credentials = body
        .optional_object("credentials", MAX_GCP_CREDENTIALS + 4096)?
        .ok_or_else(|| ApiError::invalid_field("credentials", "'credentials' is required"))?;
    body.finish()?;

    let mut place = recording_destination::parse(&uri, "uri")?;
    if place.path.contains(['{', '}']) {
        return Err(ApiError::invalid_field("uri", "a destination is a folder; placeholders go in output_uri"));
    }
    // A destination is a folder: `s3://b/rec` holds `s3://b/rec/…`, never `s3://b/records/…`.
    if !place.path.is_empty() && !place.path.ends_with('/') {
        place.path.push('/');
    }
    let credentials = parse_credentials(place.kind, credentials)?;

    let project_id = ctx.project_id();
    let sealed = key.seal(ctx.rt.entropy.as_ref(), project_id, credentials.to_json().to_string().as_bytes());
    let stored = StoredDestination {
        id: ids::destination_id(ctx.rt),
        project_id: project_id.to_owned(),
        kind: place.kind,
        bucket: place.bucket,
        prefix: place.path,
        sealed_credentials: sealed,
        created_at_ms: ctx.rt.now_ms() as i64,
    };
    let limit = ctx.app.settings.limits.quota(Quota::RecordingDestinations);
    if !destinations::insert(ctx.rt, &stored, limit).await? {
        let existing = destinations::in_bucket(ctx.rt, project_id, stored.kind, &stored.bucket)
            .await?
            .into_iter()
            .find(|d| d.prefix == stored.prefix);
        let mut e = ApiError::new(
            ErrorCode::DestinationExists,
            format!("this project already has a destination at {}; delete it first to replace it", stored.uri()),
        )
        .with_detail("field", "uri");
        if let Some(d) = existing {
            e = e.with_detail("destination", d.id);
        }
        return Err(e);
    }
    Ok(Reply::created(stored.to_json()))
}

/// The credentials object for a destination of `kind`; errors name `credentials.<field>`.
/// Malformed fields are `INVALID_REQUEST`; well-formed credentials that would aim the
/// vendor's recorder at a host or credential source of the tenant's choosing are
/// `DESTINATION_UNSUPPORTED` (`recording_destination::checked_*`), before anything is stored.
fn parse_credentials(kind: Kind, mut fields: Map<String, Value>) -> ApiResult<StorageCredentials> {
    // A GCP key is one document taken whole (as an object or as its JSON text).
    let gcp_document = if kind == Kind::Gcs { fields.remove("credentials") } else { None };
    let nested = |e: ApiError| match e.details.get("field").and_then(Value::as_str).map(str::to_owned) {
        Some(f) => {
            let mut e = e.with_detail("field", format!("credentials.{f}"));
            e.message = e.message.replacen(&format!("'{f}'"), &format!("'credentials.{f}'"), 1);
            e
        }
        None => e,
    };
    let mut body = Body::parse(&serde_json::to_vec(&fields).map_err(ApiError::internal)?).map_err(nested)?;
    match kind {
        Kind::S3 => {
            let access_key = body.required_str("access_key", 256).map_err(nested)?;
            let secret = body.required_str("secret", 1024).map_err(nested)?;
            let region = body.optional_str("region", 64).map_err(nested)?;
            let endpoint = body.optional_str("endpoint", 1024).map_err(nested)?;
            body.finish().map_err(nested)?;
            if let Some(region) = &region {
                recording_destination::checked_s3_region(region, "credentials.region")?;
            }
            let endpoint = match endpoint {
                Some(raw) => Some(recording_destination::checked_s3_endpoint(&raw, "credentials.endpoint")?),
                None => None,
            };
            Ok(StorageCredentials::S3 { access_key, secret, region, endpoint })
        }
        Kind::Gcs => {
            body.finish().map_err(nested)?;
            let doc = match gcp_document {
                Some(Value::Object(doc)) => Some(doc),
                Some(Value::String(text)) if text.len() <= MAX_GCP_CREDENTIALS => serde_json::from_str(&text).ok(),
                _ => None,
            };
            let Some(doc) = doc else {
                return Err(ApiError::invalid_field(
                    "credentials.credentials",
                    format!(
                        "'credentials.credentials' must be the service account's JSON key (an object or its text, \
                         at most {MAX_GCP_CREDENTIALS} bytes)"
                    ),
                ));
            };
            let credentials = recording_destination::checked_gcp_key(&doc, "credentials.credentials")?;
            if credentials.len() > MAX_GCP_CREDENTIALS {
                return Err(ApiError::invalid_field(
                    "credentials.credentials",
                    format!("'credentials.credentials' must be at most {MAX_GCP_CREDENTIALS} bytes"),
                ));
            }
            Ok(StorageCredentials::Gcs { credentials })
        }
        Kind::Azure => {
            let account_name = body.required_str("account_name", 256).map_err(nested)?;
            let account_key = body.required_str("account_key", 1024).map_err(nested)?;
            body.finish().map_err(nested)?;
            recording_destination::checked_azure_account(&account_name, "credentials.account_name")?;
            Ok(StorageCredentials::Azure { account_name, account_key })
        }
    }
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    sealing_key(&ctx.app.settings)?;
    let q = paging::parse(ctx.req, &[])?;
    let (items, more) = destinations::page(ctx.rt, ctx.project_id(), q.after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|d| paging::encode_cursor(d.created_at_ms, &d.id)) } else { None };
    Ok(Reply::ok(json!({
        "items": items.iter().map(StoredDestination::to_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn delete(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    sealing_key(&ctx.app.settings)?;
    let id = ctx.param(0);
    if !destinations::delete(ctx.rt, ctx.project_id(), id).await? {
        return Err(ApiError::new(ErrorCode::DestinationNotFound, format!("no destination '{id}' in this project"))
            .with_detail("destination", id));
    }
    Ok(Reply::ok(json!({ "ok": true })))
}
