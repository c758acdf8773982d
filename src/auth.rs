//! Who is calling. API-key routes take `Authorization: Bearer <api key>`; the key is hashed
//! and looked up, and a hit is cached in isolate memory for `KEY_CACHE_TTL_MS` so the token
//! hot path does not pay a D1 round trip per request. Consequence, by design: a revoked key
//! keeps working in an isolate that cached it for at most that long.
//! Admin routes take the `ADMIN_TOKEN` secret, compared in constant time.

use subtle::ConstantTimeEq;

use crate::app::App;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::ApiRequest;
use crate::runtime::Runtime;
use crate::store::keys;

pub const KEY_CACHE_TTL_MS: u64 = crate::app::CACHE_TTL_MS;

#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    pub project_id: String,
    pub key_id: String,
}

/// The bearer credential, if the header is well formed.
fn bearer(req: &ApiRequest) -> ApiResult<&str> {
    let header = req.header("authorization").ok_or_else(|| {
        ApiError::unauthenticated("missing Authorization header; send 'Authorization: Bearer <token>'")
    })?;
    let (scheme, credential) = header.trim().split_once(' ').unwrap_or((header, ""));
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
        return Err(ApiError::unauthenticated("malformed Authorization header; expected 'Bearer <token>'"));
    }
    if credential.len() > 256 || !credential.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::unauthenticated("malformed bearer token (at most 256 visible ASCII characters)"));
    }
    Ok(credential)
}

pub async fn authenticate(app: &App, rt: &Runtime, req: &ApiRequest) -> ApiResult<Caller> {
    let key = bearer(req)?;
    let hash = keys::hash_key(key);
    let now = rt.now_ms();
    if let Some((caller, cached_at)) = app.cache.keys.borrow().get(&hash) {
        if now.saturating_sub(*cached_at) < KEY_CACHE_TTL_MS {
            return Ok(caller.clone());
        }
    }
    match keys::find_live_key(rt, &hash).await? {
        Some(record) => {
            let caller = Caller { project_id: record.project_id, key_id: record.id };
            let mut cache = app.cache.keys.borrow_mut();
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(hash, (caller.clone(), now));
            Ok(caller)
        }
        None => {
            app.cache.keys.borrow_mut().remove(&hash);
            Err(ApiError::unauthenticated("unknown or revoked API key"))
        }
    }
}

pub fn require_admin(app: &App, req: &ApiRequest) -> ApiResult<()> {
    let Some(expected) = &app.settings.admin_token else {
        return Err(ApiError::new(ErrorCode::Forbidden, "the admin API is disabled: ADMIN_TOKEN is not set"));
    };
    let given = bearer(req)?;
    if given.as_bytes().ct_eq(expected.as_bytes()).into() {
        Ok(())
    } else {
        Err(ApiError::unauthenticated("wrong admin token"))
    }
}

/// Forgets a key at once in this isolate (used when this isolate revokes it).
pub fn forget_cached_keys(app: &App) {
    app.cache.keys.borrow_mut().clear();
}
