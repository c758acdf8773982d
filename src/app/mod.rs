//! The application: settings and vendors built once per isolate, and `handle`, which turns
//! one `ApiRequest` into one `ApiResponse` — request id, routing, size limit, auth, the
//! handler, and the error envelope — without ever panicking on client input.

pub mod maintenance;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use crate::api::auth;
use crate::api::body::MAX_BODY_BYTES;
use crate::api::router::{self, Access, Match};
use crate::byte_cache::{ByteCache, HeapSize};
use crate::config::{setting, EnvVars};
use crate::domain::ids;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::{ApiRequest, ApiResponse, Method, RequestHeader};
use crate::resources;
use crate::runtime::Runtime;
use crate::store::registry_writer::Registry;
use crate::store::rooms::Room;
use crate::vendors::routing::VendorRouter;

/// Deployment settings that are not a vendor's.
pub struct Settings {
    /// Guards the admin routes; admin is disabled when unset.
    pub admin_token: Option<String>,
    /// The deployment's recording storage and how projects share it.
    pub shared_storage: crate::resources::recordings::storage::SharedStorage,
    /// Seals projects' storage credentials at rest (`RTCGATE_ENCRYPTION_KEY`).
    pub encryption_key: crate::crypto::sealed::EncryptionKey,
    /// The per-call vendor timeout (`VENDOR_TIMEOUT_MS`).
    pub vendor_timeout_ms: u64,
    /// The secrets that authenticate vendor webhooks.
    pub events: crate::domain::events::Settings,
    /// Outbound webhook delivery.
    pub webhooks: crate::resources::webhooks::Settings,
    /// The per-key rate limit and the per-project quotas.
    pub limits: crate::api::limits::Limits,
    /// The scheduled job: retention windows.
    pub maintenance: crate::app::maintenance::Settings,
}

impl Settings {
    /// How long after a start whose answer was lost its absence at the vendor still means
    /// "not yet" rather than "never": twice the call timeout.
    pub fn confirm_grace_ms(&self) -> u64 {
        2 * self.vendor_timeout_ms
    }
}

impl Settings {
    pub fn from_env(env: EnvVars<'_>) -> Settings {
        Settings {
            admin_token: setting(env, "ADMIN_TOKEN"),
            shared_storage: crate::resources::recordings::storage::SharedStorage::from_env(env),
            encryption_key: crate::crypto::sealed::EncryptionKey::from_setting(
                setting(env, "RTCGATE_ENCRYPTION_KEY").as_deref(),
            ),
            vendor_timeout_ms: crate::vendors::transport::timeout_from_env(env),
            events: crate::domain::events::Settings::from_env(env),
            webhooks: crate::resources::webhooks::Settings::from_env(env),
            limits: crate::api::limits::Limits::from_env(env),
            maintenance: crate::app::maintenance::Settings::from_env(env),
        }
    }
}

/// Short-lived isolate memory. Entries here may be up to `ttl` stale; see `auth` for what
/// that means for revoked keys. Each map is bounded by bytes as well as entries
/// (`byte_cache`), so no burst of large entries grows the isolate past its memory limit.
pub struct IsolateCache {
    /// API-key hash → caller, for `auth::KEY_CACHE_TTL_MS`.
    pub keys: RefCell<ByteCache<String, (auth::Caller, u64)>>,
    /// API-key hashes that matched no live key → when, for `auth::UNKNOWN_KEY_TTL_MS`.
    pub unknown_keys: RefCell<ByteCache<String, u64>>,
    /// (project, id or name) → room, for the token hot path. Shared with the refreshes that
    /// run after a response.
    rooms: Rc<RefCell<ByteCache<(String, String), CachedRoom>>>,
}

/// The isolate caches' budgets. A Workers isolate has 128 MB; these (with the participant
/// registry's, `registry_writer`) keep what rtcgate remembers under about 25 MB however large
/// the entries are. A key entry is about 300 bytes, a room without metadata about 600 (a room
/// is held under its id and under the name it was asked by), one with 16 KiB of metadata about
/// 17 KB.
pub const KEY_CACHE_BYTES: usize = 2 << 20;
pub const KEY_CACHE_ENTRIES: usize = 10_000;
pub const UNKNOWN_KEY_CACHE_BYTES: usize = 1 << 20;
pub const ROOM_CACHE_BYTES: usize = 8 << 20;
pub const ROOM_CACHE_ENTRIES: usize = 10_000;

impl Default for IsolateCache {
    fn default() -> Self {
        IsolateCache {
            keys: RefCell::new(ByteCache::new(KEY_CACHE_BYTES, KEY_CACHE_ENTRIES)),
            unknown_keys: RefCell::new(ByteCache::new(UNKNOWN_KEY_CACHE_BYTES, auth::MAX_UNKNOWN_KEYS)),
            rooms: Rc::new(RefCell::new(ByteCache::new(ROOM_CACHE_BYTES, ROOM_CACHE_ENTRIES))),
        }
    }
}

struct CachedRoom {
    room: Room,
    at_ms: u64,
    /// A re-read is under way (after some response), so no other request starts one.
    refreshing: bool,
}

impl HeapSize for Room {
    fn heap_bytes(&self) -> usize {
        self.id.heap_bytes()
            + self.project_id.heap_bytes()
            + self.name.heap_bytes()
            + self.vendor.heap_bytes()
            + self.vendor_sid.heap_bytes()
            + self.metadata.heap_bytes()
            + self.region.heap_bytes()
    }
}

impl HeapSize for CachedRoom {
    fn heap_bytes(&self) -> usize {
        self.room.heap_bytes()
    }
}

/// How long a cached entry may be used. A room deleted through another isolate can still get
/// tokens minted here for at most this long (the vendor would then host an empty room).
pub const CACHE_TTL_MS: u64 = 60_000;
/// A room entry in use is re-read after the response once it is this old, so a room in steady
/// use never expires into a read the caller waits for.
pub const ROOM_REFRESH_AFTER_MS: u64 = CACHE_TTL_MS / 2;

impl IsolateCache {
    pub fn room(&self, project_id: &str, id_or_name: &str, now_ms: u64) -> Option<Room> {
        let mut rooms = self.rooms.borrow_mut();
        let cached = rooms.get(&(project_id.to_owned(), id_or_name.to_owned()))?;
        (now_ms.saturating_sub(cached.at_ms) < CACHE_TTL_MS).then(|| cached.room.clone())
    }

    pub fn remember_room(&self, id_or_name: &str, room: &Room, now_ms: u64) {
        remember_room(&self.rooms, id_or_name, room, now_ms);
    }

    /// How many room entries this isolate holds, and the bytes they are charged.
    pub fn rooms_held(&self) -> (usize, usize) {
        let rooms = self.rooms.borrow();
        (rooms.len(), rooms.bytes())
    }

    pub fn forget_room(&self, room_id: &str) {
        self.rooms.borrow_mut().retain(|_, cached| cached.room.id != room_id);
    }

    /// When the entry for `id_or_name` is past `ROOM_REFRESH_AFTER_MS`, re-reads it after the
    /// response: a room still there is remembered afresh, a room gone (deleted) is forgotten,
    /// and a failed read leaves the entry to expire as usual.
    pub fn refresh_room_if_due(&self, rt: &Runtime, project_id: &str, id_or_name: &str, now_ms: u64) {
        let key = (project_id.to_owned(), id_or_name.to_owned());
        {
            let mut rooms = self.rooms.borrow_mut();
            let Some(cached) = rooms.get_mut(&key) else { return };
            if cached.refreshing || now_ms.saturating_sub(cached.at_ms) < ROOM_REFRESH_AFTER_MS {
                return;
            }
            cached.refreshing = true;
        }
        let (rooms, rt_bg) = (self.rooms.clone(), rt.clone());
        rt.after_response(async move {
            let found = crate::store::rooms::find(&rt_bg, &key.0, &key.1).await;
            let now_ms = rt_bg.now_ms();
            match found {
                Ok(Some(room)) => remember_room(&rooms, &key.1, &room, now_ms),
                Ok(None) => {
                    rooms.borrow_mut().remove(&key);
                }
                Err(_) => {
                    if let Some(cached) = rooms.borrow_mut().get_mut(&key) {
                        cached.refreshing = false;
                    }
                }
            }
        });
    }
}

type RoomCache = ByteCache<(String, String), CachedRoom>;

fn remember_room(rooms: &RefCell<RoomCache>, id_or_name: &str, room: &Room, now_ms: u64) {
    let mut rooms = rooms.borrow_mut();
    let entry = || CachedRoom { room: room.clone(), at_ms: now_ms, refreshing: false };
    // Under the id too: clients usually name a room once, then use the id it answered with.
    if id_or_name != room.id {
        rooms.insert((room.project_id.clone(), room.id.clone()), entry());
    }
    rooms.insert((room.project_id.clone(), id_or_name.to_owned()), entry());
}

pub struct App {
    pub settings: Settings,
    /// The vendors and the routing between them.
    pub vendors: VendorRouter,
    pub cache: IsolateCache,
    /// The participant registry as this isolate knows it, and its deferred writes.
    pub registry: Rc<Registry>,
}

/// Everything a handler gets.
pub struct Ctx<'a> {
    /// Shared, so work that must outlive the request (`Runtime::finish_even_if_cancelled`)
    /// can hold on to the app.
    pub app: &'a Rc<App>,
    pub rt: &'a Runtime,
    pub req: &'a ApiRequest,
    pub params: Vec<String>,
    /// The calling project, for API-key routes.
    pub caller: Option<auth::Caller>,
}

impl Ctx<'_> {
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn project_id(&self) -> &str {
        self.caller.as_ref().map(|c| c.project_id.as_str()).unwrap_or("")
    }
}

/// A successful answer.
pub struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub headers: Vec<(String, String)>,
}

/// A reply's JSON body: a value, or text already encoded from a typed answer (the token hot
/// path, which skips building and dropping a map of values for every request).
pub enum ReplyBody {
    Value(Value),
    Encoded(Vec<u8>),
}

impl ReplyBody {
    /// The body as a value (what idempotency records keep).
    pub fn to_value(&self) -> Value {
        match self {
            ReplyBody::Value(v) => v.clone(),
            ReplyBody::Encoded(text) => serde_json::from_slice(text).expect("encoded from a Serialize value"),
        }
    }
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply { status: 200, body: ReplyBody::Value(body), headers: Vec::new() }
    }

    pub fn created(body: Value) -> Reply {
        Reply { status: 201, body: ReplyBody::Value(body), headers: Vec::new() }
    }

    /// 200 with `body` encoded straight from its type.
    pub fn ok_encoded<T: serde::Serialize>(body: &T) -> Reply {
        let text = serde_json::to_vec(body).expect("an answer type always serializes");
        Reply { status: 200, body: ReplyBody::Encoded(text), headers: Vec::new() }
    }
}

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
            Err(err) => {
                let mut r = ApiResponse::json(err.status(), &err.envelope(&request_id));
                for (k, v) in &err.headers {
                    r.set_header(k, v);
                }
                r
            }
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
                auth::require_admin(self, req)?;
                None
            }
            Access::ApiKey => {
                let caller = auth::authenticate(self, rt, req).await?;
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
