//! Liveness and the API description.

use serde_json::{json, Value};

use crate::api::Reply;
use crate::error::ApiResult;

/// The OpenAPI 3.1 document kept in the repository (`api/openapi.json`), without the whitespace
/// between its tokens (build.rs): the same JSON value, a third fewer bytes in the Worker.
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

pub fn health() -> ApiResult<Reply> {
    Ok(Reply::ok(json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") })))
}

pub fn openapi() -> ApiResult<Reply> {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).map_err(crate::error::ApiError::internal)?;
    Ok(Reply::ok(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_document_is_the_repositorys_without_its_layout() {
        let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi.json")).unwrap();
        let embedded: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert_eq!(embedded, serde_json::from_str::<Value>(&file).unwrap());
        assert!(OPENAPI_JSON.len() < file.len() * 3 / 4, "{} bytes embedded of {}", OPENAPI_JSON.len(), file.len());
        assert!(!OPENAPI_JSON.contains("\n  "), "indentation left in the embedded document");
    }
}
