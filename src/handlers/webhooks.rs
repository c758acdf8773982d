//! `rtc.webhook.*`: the project's webhook endpoints.

use serde_json::{json, Value};

use super::events::type_names;
use crate::app::{Ctx, Reply};
use crate::body::Body;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::EventType;
use crate::ids;
use crate::limits::Quota;
use crate::store::webhooks::{self, Webhook};
use crate::webhooks::{signing, url};

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::WebhookNotFound, format!("no webhook '{id}' in this project")).with_detail("webhook", id)
}

pub async fn create(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    // The signing secret is stored sealed: no key, no endpoints (the other routes still work).
    let key = ctx.app.settings.encryption_key.require("webhook endpoints")?;
    let mut body = Body::parse(&ctx.req.body)?;
    let raw_url = body.required_str("url", url::MAX_URL_BYTES)?;
    let types = body.optional_value("types");
    body.finish()?;
    let checked = url::check(&raw_url, ctx.app.settings.webhooks.allow_http_loopback)
        .map_err(|why| ApiError::invalid_field("url", why))?;
    let types = match types {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut out: Vec<String> = Vec::new();
            for item in items {
                let t = item.as_str().and_then(EventType::parse).ok_or_else(|| {
                    ApiError::invalid_field("types", format!("'types' items must be among {}", type_names()))
                })?;
                if !out.iter().any(|o| o == t.as_str()) {
                    out.push(t.as_str().to_owned());
                }
            }
            Some(out)
        }
        Some(_) => {
            return Err(ApiError::invalid_field("types", "'types' must be a non-empty array of event types"));
        }
    };
    let secret = signing::new_secret(ctx.rt);
    let webhook = Webhook {
        id: ids::random_id(ctx.rt, "wh_", 22),
        project_id: ctx.project_id().to_owned(),
        url: checked,
        types,
        sealed_secret: secret.seal(key, ctx.rt, ctx.project_id()),
        created_at_ms: ctx.rt.now_ms() as i64,
        last_attempt_at_ms: None,
        last_status: None,
        last_error: None,
        consecutive_failures: 0,
        delivered: 0,
        dead_lettered: 0,
    };
    webhooks::insert(ctx.rt, &webhook, ctx.app.settings.limits.quota(Quota::Webhooks)).await?;
    let mut out = webhook.to_json();
    out["secret"] = json!(secret.expose());
    Ok(Reply::created(out))
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let items = webhooks::list(ctx.rt, ctx.project_id()).await?;
    Ok(Reply::ok(json!({ "items": items.iter().map(Webhook::to_json).collect::<Vec<_>>() })))
}

pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let webhook =
        webhooks::find(ctx.rt, ctx.project_id(), ctx.param(0)).await?.ok_or_else(|| not_found(ctx.param(0)))?;
    Ok(Reply::ok(webhook.to_json_with_health()))
}

pub async fn delete(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    if !webhooks::soft_delete(ctx.rt, ctx.project_id(), ctx.param(0)).await? {
        return Err(not_found(ctx.param(0)));
    }
    Ok(Reply::ok(json!({ "ok": true })))
}
