//! Liveness and the API description.

use serde_json::{json, Value};

use crate::api::Reply;
use crate::error::ApiResult;

/// The OpenAPI 3.1 document kept in the repository, served as is.
pub const OPENAPI_JSON: &str = include_str!("../../api/openapi.json");

pub fn health() -> ApiResult<Reply> {
    Ok(Reply::ok(json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") })))
}

pub fn openapi() -> ApiResult<Reply> {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).map_err(crate::error::ApiError::internal)?;
    Ok(Reply::ok(doc))
}
