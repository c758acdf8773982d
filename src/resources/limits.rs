//! `GET /v1/rtc/limits`: the calling project's rate limit and, for each quota, its limit and
//! how much of it is used, so a client can see where it stands before it is refused.

use serde_json::{json, Map, Value};

use crate::api::{Ctx, Reply};
use crate::domain::limits::Quota;
use crate::error::ApiResult;
use crate::store::quotas;

pub async fn limits(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let limits = &ctx.app.settings.limits;
    let used = quotas::usage(ctx.rt, ctx.project_id()).await?;
    let quotas: Map<String, Value> = Quota::ALL
        .iter()
        .zip(used)
        .map(|(q, used)| (q.name().to_owned(), json!({ "limit": limits.quota(*q), "used": used })))
        .collect();
    Ok(Reply::ok(json!({
        "rate_limit": { "requests": limits.rate.requests, "period_s": limits.rate.period_s },
        "quotas": quotas,
    })))
}
