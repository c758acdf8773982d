//! The application: settings and vendors built once per isolate, and `handle`, which turns
//! one `ApiRequest` into one `ApiResponse` — request id, routing, size limit, auth, the
//! handler, and the error envelope — without ever panicking on client input.
//!
//! `App` itself (what every request shares) is declared in `api::state`, below the resources,
//! so that handlers can read it; this module builds it and runs the request pipeline over it.

pub mod maintenance;
pub mod queue;

use std::rc::Rc;

pub use crate::api::state::App;

use crate::api::auth;
use crate::api::body::MAX_BODY_BYTES;
use crate::api::revocation::Revocation;
use crate::api::router::{self, Access, Match};
use crate::api::settings::Settings;
use crate::api::state::IsolateCache;
use crate::api::{Ctx, Reply, ReplyBody};
use crate::config::EnvVars;
use crate::domain::ids;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::{ApiRequest, ApiResponse, Method, RequestHeader};
use crate::resources;
use crate::runtime::Runtime;
use crate::vendors::routing::VendorRouter;

impl App {
    pub fn from_env(env: EnvVars<'_>) -> App {
        App {
            settings: Settings::from_env(env),
            vendors: VendorRouter::from_env(env),
            cache: IsolateCache::default(),
            registry: Rc::default(),
        }
    }

    pub async fn handle(self: &Rc<Self>, rt: &Runtime, req: ApiRequest) -> ApiResponse {
        let request_id = request_id(rt, &req);
        let result = self.dispatch(rt, &req).await;
        let mut response = match result {
            Ok(reply) => {
                let mut r = match reply.body {
                    ReplyBody::Value(body) => ApiResponse::json(reply.status, &body),
                    ReplyBody::Encoded(text) => ApiResponse::json_encoded(reply.status, text),
                };
                for (k, v) in reply.headers {
                    r.set_header(&k, &v);
                }
                r
            }
            Err(err) => render_error(&err, &request_id),
        };
        response.set_header("x-request-id", &request_id);
        response.set_header("cache-control", "no-store");
        response
    }

    async fn dispatch(self: &Rc<Self>, rt: &Runtime, req: &ApiRequest) -> ApiResult<Reply> {
        let (route, params) = match router::route(&req.method, &req.path) {
            Match::Found { route, params } => (route, params),
            Match::WrongMethod { allow } => {
                return Err(ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{} is not allowed on {}", req.method.as_str(), req.path),
                )
                .with_header("Allow", allow))
            }
            Match::NotFound => {
                return Err(ApiError::new(ErrorCode::RouteNotFound, format!("no route for {}", req.path)))
            }
        };
        if req.body_incomplete {
            return Err(ApiError::new(ErrorCode::InvalidRequest, "the request body ended before its declared length"));
        }
        let body_bytes = req.body.len().max(req.unread_body_bytes);
        if body_bytes > MAX_BODY_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is {body_bytes} bytes; the limit is {MAX_BODY_BYTES}"),
            ));
        }
        if !req.body.is_empty()
            && !route.takes_vendor_body()
            && matches!(req.method, Method::Post | Method::Put | Method::Patch | Method::Delete)
        {
            check_content_type(req)?;
        }
        let caller = match route.access() {
            Access::Public => None,
            Access::Admin => {
                auth::require_admin(self.settings.admin_token.as_deref(), req)?;
                None
            }
            Access::ApiKey => {
                // An isolate idle past the staleness window catches up before it trusts its
                // memory; one in use reads the feed after its responses.
                self.cache.revocation.before_answering(&self.cache.keys, &self.cache.rooms, rt).await;
                let caller = auth::authenticate(&self.cache.keys, &self.cache.revocation, rt, req).await?;
                Revocation::after_response(self, rt);
                crate::api::limits::check_rate(&self.settings.limits, rt, &caller.key_id)?;
                Some(caller)
            }
        };
        if !route.takes_body() && !req.body.is_empty() {
            crate::api::body::Body::parse(&req.body)?.finish()?;
        }
        if !route.takes_query() {
            if let Some((name, _)) = req.query_pairs().into_iter().next() {
                return Err(ApiError::new(ErrorCode::UnknownField, format!("unknown query parameter '{name}'"))
                    .with_detail("field", name));
            }
        }
        let ctx = Ctx { app: self, rt, req, params, caller };
        resources::serve(route, &ctx).await
    }
}

/// The one place an error becomes a response, and so the one place it is logged: once, with
/// the request id the client is told to report.
fn render_error(err: &ApiError, request_id: &str) -> ApiResponse {
    if let Some((level, line)) = err.log_line(request_id) {
        crate::log::write(level, &line);
    }
    let mut response = ApiResponse::json(err.status(), &err.envelope(request_id));
    for (k, v) in &err.headers {
        response.set_header(k, v);
    }
    response
}

/// A body must be JSON when its type is declared; an undeclared type is read as JSON.
fn check_content_type(req: &ApiRequest) -> ApiResult<()> {
    match req.header(RequestHeader::ContentType) {
        None => Ok(()),
        Some(ct) => {
            let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if mime == "application/json" || mime.ends_with("+json") {
                Ok(())
            } else {
                Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!("request bodies must be application/json, not '{mime}'"),
                ))
            }
        }
    }
}

/// The client's `X-Request-Id` when it is sane (1–128 of `[A-Za-z0-9._:-]`), else a new one.
fn request_id(rt: &Runtime, req: &ApiRequest) -> String {
    match req.header(RequestHeader::RequestId) {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')) =>
        {
            id.to_owned()
        }
        _ => ids::request_id(rt),
    }
}
