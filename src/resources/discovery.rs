//! `GET /v1/discovery/{capability}`: which vendors can serve a capability right now.

use serde_json::json;

use crate::api::{Ctx, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::vendors::routing;
use crate::vendors::Capability;

pub async fn discover(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let id = ctx.param(0);
    let capability = Capability::parse(id).ok_or_else(|| {
        let known: Vec<&str> = Capability::ALL.iter().map(|c| c.id()).collect();
        ApiError::new(ErrorCode::CapabilityNotFound, format!("unknown capability '{id}'"))
            .with_detail("capabilities", known)
    })?;
    let mut statuses = Vec::new();
    for entry in &ctx.app.vendors {
        statuses.push((entry, routing::status(&ctx.app.vendors, ctx.rt, entry, capability).await));
    }
    // The default is the vendor an unpinned call would pick: first live one in routing order.
    let default = ctx
        .app
        .vendors
        .order
        .iter()
        .find(|name| statuses.iter().any(|(e, s)| e.name == name.as_str() && *s == "live"))
        .cloned();
    let vendors: Vec<_> = statuses
        .iter()
        .map(|(entry, status)| {
            let mut v = json!({
                "vendor": entry.name,
                "status": status,
                "default": default.as_deref() == Some(entry.name),
            });
            if let crate::vendors::VendorState::Misconfigured(why) = &entry.state {
                v["reason"] = json!(why);
            }
            v
        })
        .collect();
    Ok(Reply::ok(json!({ "capability": capability.id(), "vendors": vendors })))
}
