//! Operator routes (guarded by ADMIN_TOKEN): projects and their API keys.

use serde_json::json;

use crate::api::auth;
use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::keys;

pub async fn create_project(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let name = body.required_str("name", 128)?;
    body.finish()?;
    let project = keys::create_project(ctx.rt, &name).await?;
    Ok(Reply::created(json!({ "project": project.to_json() })))
}

async fn existing_project(ctx: &Ctx<'_>) -> ApiResult<keys::Project> {
    let id = ctx.param(0);
    keys::get_project(ctx.rt, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ProjectNotFound, format!("no project '{id}'")))
}

/// Creates a key; the response is the only place the key itself ever appears.
pub async fn create_key(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let project = existing_project(ctx).await?;
    let mut body = Body::parse(&ctx.req.body)?;
    let label = body.optional_str("label", 128)?.unwrap_or_else(|| "default".to_owned());
    body.finish()?;
    let secret = keys::generate_key(ctx.rt);
    let record = keys::insert_key(ctx.rt, &project.id, &label, &secret).await?;
    auth::forget_unknown_keys(&ctx.app.cache.keys);
    Ok(Reply::created(json!({ "key": record.to_json(), "secret": secret })))
}

pub async fn list_keys(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let project = existing_project(ctx).await?;
    let items: Vec<_> = keys::list_keys(ctx.rt, &project.id).await?.iter().map(keys::ApiKey::to_json).collect();
    Ok(Reply::ok(json!({ "items": items })))
}

pub async fn revoke_key(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let id = ctx.param(0);
    let record = keys::revoke_key(ctx.rt, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::KeyNotFound, format!("no API key '{id}'")))?;
    auth::forget_cached_keys(&ctx.app.cache.keys);
    Ok(Reply::ok(json!({ "key": record.to_json() })))
}
