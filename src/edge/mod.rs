//! The Workers entry point: the only wasm-only code. It converts between `worker` types and
//! the core's request/response model, provides the runtime traits on D1, KV, fetch, the JS
//! clock and `crypto.getRandomValues`, and keeps one `App` per isolate.

mod platform;
mod request;

use std::cell::OnceCell;
use std::rc::Rc;

use std::future::Future;
use std::task::Poll;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use worker::worker_sys::web_sys;
use worker::{event, Context, Env, MessageBatch, MessageExt};

use crate::api::body::MAX_BODY_BYTES;
use crate::app::App;
use crate::http::{ApiRequest, ApiResponse, Method, RequestHeader};
use crate::runtime::Runtime;

thread_local! {
    // Built on the first request: settings and vendor signers (with their precomputed keys)
    // are reused by every request this isolate serves.
    static APP: OnceCell<Rc<App>> = const { OnceCell::new() };
}

/// Reads a var or secret; both are plain strings on `env`.
fn env_string(env: &Env, name: &str) -> Option<String> {
    let env_value: &JsValue = env.as_ref();
    js_sys::Reflect::get(env_value, &JsValue::from_str(name)).ok()?.as_string()
}

thread_local! {
    // The names of the headers the core reads (`RequestHeader`), as the JS array the glue
    // looks each of them up from.
    static HEADER_NAMES: js_sys::Array =
        RequestHeader::ALL.iter().map(|h| JsValue::from_str(h.name())).collect();
}

thread_local! {
    // For the test that the entry recovers from a wasm trap (tests/e2e/edges.test.mjs): a
    // request to exactly this path (`RTCGATE_TEST_TRAP_PATH`) traps. No deployment sets it.
    static TRAP_PATH: OnceCell<Option<String>> = const { OnceCell::new() };
}

fn trap_if_asked(env: &Env, path: &str) {
    if TRAP_PATH.with(|p| p.get_or_init(|| env_string(env, "RTCGATE_TEST_TRAP_PATH")).as_deref() == Some(path)) {
        core::arch::wasm32::unreachable();
    }
}

fn app(env: &Env) -> Rc<App> {
    APP.with(|cell| cell.get_or_init(|| Rc::new(App::from_env(&|name| env_string(env, name)))).clone())
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The runtime of one invocation. Bindings are looked up on first use, so a request that needs
/// no D1, KV, queue or rate limiter (health, a refusal before authentication) pays for none of them.
fn runtime(env: &Env, ctx: Context) -> Runtime {
    let js_ctx: JsValue = AsRef::<JsValue>::as_ref(ctx.as_ref()).clone();
    Runtime {
        db: Rc::new(platform::D1(platform::Lazy::new(env, "DB", Env::d1))),
        kv: Rc::new(platform::Kv(platform::Lazy::new(env, "KV", Env::kv))),
        http: Rc::new(platform::Fetch),
        clock: Rc::new(platform::JsClock),
        entropy: Rc::new(platform::JsEntropy),
        background: Rc::new(platform::WaitUntil(ctx)),
        queue: Rc::new(platform::Queue(platform::Lazy::new(env, "DELIVERIES", Env::queue))),
        limiter: Rc::new(platform::RateLimit { env: env.clone(), ctx: js_ctx }),
    }
}

/// The dead-letter queue of `rtcgate-deliveries` (`wrangler.toml`): messages whose handling
/// failed on every one of the queue's retries.
const DEAD_LETTERS: &str = "rtcgate-deliveries-dlq";

/// The delivery queue's consumer (`app::queue`): each message is one webhook delivery attempt
/// or one timed session's ejection, and a batch's messages are handled concurrently (each
/// bounded by its own timeout), so a receiver that never answers holds up no other message. The core schedules its own retries (with
/// backoff) as new messages, so a handled message is acked; only a failure to handle it
/// (storage down) leaves it to the queue's own retries, and after those to the dead-letter
/// queue, whose messages this same consumer marks dead on their endpoint's health.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, ctx: Context) -> worker::Result<()> {
    let app = app(&env);
    let runtime = runtime(&env, ctx);
    // A message that cannot even be read as a string is acked: no retry will read it either.
    let mut messages = Vec::new();
    for raw in batch.raw_iter() {
        match raw.body().as_string() {
            Some(body) => messages.push((raw, body)),
            None => {
                crate::log::warn("webhook delivery: an unreadable queue message was dropped");
                raw.ack();
            }
        }
    }
    let bodies: Vec<String> = messages.iter().map(|(_, body)| body.clone()).collect();
    let results = if batch.queue() == DEAD_LETTERS {
        futures_util::future::join_all(bodies.iter().map(|body| crate::app::queue::dead_lettered(&runtime, body))).await
    } else {
        crate::app::queue::consume_batch(&app, &runtime, &bodies).await
    };
    for ((message, _), result) in messages.iter().zip(results) {
        match result {
            Ok(()) => message.ack(),
            Err(e) => {
                crate::log::error(&format!("queue message: {e}"));
                message.retry();
            }
        }
    }
    Ok(())
}

/// The Cron Trigger's handler (`[triggers] crons` in wrangler.toml): one run of the scheduled
/// job, `maintenance::run` (reconciliation, then retention), logged as one line. A plain export
/// like `fetch` (scripts/lighten_entry.mjs puts it on the module's default export); its promise
/// settles when the run is over, so the runtime keeps the invocation alive until then.
#[wasm_bindgen(js_name = scheduled)]
pub fn scheduled(_controller: JsValue, env: Env, ctx: worker::worker_sys::Context) -> js_sys::Promise {
    let app = app(&env);
    let runtime = runtime(&env, Context::new(ctx));
    future_to_promise(async move {
        let report = crate::app::maintenance::run(&app, &runtime).await;
        crate::log::info(&report.summary());
        Ok(JsValue::UNDEFINED)
    })
}

/// The fetch handler. It is a plain (not async) export so that a request that needs no I/O
/// (health, the OpenAPI document, most refusals) is answered in the same call, with no promise,
/// task or microtask: its handler future is polled once here, and only one that is still waiting
/// is handed to the promise executor. (An API-key request, a warm token too, does not wait for the
/// rate limiter's verdict, see `crate::api::limits`.) A body is read by the glue, which calls
/// back into wasm.
#[wasm_bindgen(js_name = fetch)]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> JsValue {
    let app = app(&env);
    let runtime = runtime(&env, Context::new(ctx));
    let head = crate::http::head::parse_request(&HEADER_NAMES.with(|names| glue::request_head(&req, names)));
    let mut api_req = head.request;
    trap_if_asked(&env, &api_req.path);
    // A body declared larger than the limit is refused unread (413), not buffered first.
    let declared = api_req.header(RequestHeader::ContentLength).and_then(|v| v.trim().parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => {
            api_req.unread_body_bytes = n;
            serve(app, runtime, api_req)
        }
        // The runtime holds a body to its declared length, so it is read whole in one call.
        // (A declared length is itself a body flag in the head: see `src/http/head.rs`.)
        Some(n) if n > 0 => {
            let next = Closure::once_into_js(move |body: JsValue| -> JsValue {
                match body.dyn_into::<js_sys::Uint8Array>() {
                    Ok(body) => api_req.body = body.to_vec(),
                    Err(_) => api_req.body_incomplete = true,
                }
                serve(app, runtime, api_req)
            });
            glue::with_body(&req, &next).into()
        }
        Some(_) => serve(app, runtime, api_req),
        // No declared length but a body stream (chunked): read it chunk by chunk, bounded.
        None if head.has_body => future_to_promise(async move {
            request::read_bounded(worker::Request::from(req), &mut api_req, &runtime).await;
            Ok(handle(app, runtime, api_req).await)
        })
        .into(),
        None => serve(app, runtime, api_req),
    }
}

/// Handles the request and answers with a `Response` at once when the handler completes on
/// its first poll, else with a promise of one.
fn serve(app: Rc<App>, runtime: Runtime, api_req: ApiRequest) -> JsValue {
    let mut answer = Box::pin(handle(app, runtime, api_req));
    // A future may be polled with one waker and then another: only the latest poll's waker
    // must be woken, and the executor below polls again at once with its own.
    match answer.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        Poll::Ready(response) => response,
        Poll::Pending => future_to_promise(async move { Ok(answer.await) }).into(),
    }
}

async fn handle(app: Rc<App>, runtime: Runtime, api_req: ApiRequest) -> JsValue {
    let is_head = api_req.method == Method::Head;
    let response = app.handle(&runtime, api_req).await;
    respond(response, is_head)
}

/// The response as a JS `Response`, made by the glue in one call.
fn respond(response: ApiResponse, is_head: bool) -> JsValue {
    let body: &[u8] = if is_head { &[] } else { &response.body };
    glue::respond(response.status, &crate::http::head::response_head(&response), body).into()
}

/// The JS half of the boundary (`glue.js`).
pub(crate) mod glue {
    use wasm_bindgen::prelude::*;
    use worker::worker_sys::web_sys;

    #[wasm_bindgen(module = "/src/edge/glue.js")]
    extern "C" {
        #[wasm_bindgen(js_name = requestHead)]
        pub fn request_head(request: &web_sys::Request, names: &js_sys::Array) -> String;
        #[wasm_bindgen(js_name = withBody)]
        pub fn with_body(request: &web_sys::Request, next: &JsValue) -> js_sys::Promise;
        pub fn respond(status: u16, head: &str, body: &[u8]) -> web_sys::Response;
        pub fn sleep(ms: f64) -> js_sys::Promise;
        #[wasm_bindgen(js_name = fetchBounded)]
        pub fn fetch_bounded(
            url: &str,
            method: &str,
            head: &str,
            body: JsValue,
            max_bytes: f64,
            timeout_ms: f64,
        ) -> js_sys::Promise;
        #[wasm_bindgen(js_name = rateCount)]
        pub fn rate_count(env: &JsValue, name: &JsValue, ctx: &JsValue, key: &str) -> Option<String>;
        #[wasm_bindgen(js_name = queueSendBatch)]
        pub fn queue_send_batch(queue: &JsValue, bodies: &js_sys::Array, delay_seconds: u32) -> js_sys::Promise;
    }
}
