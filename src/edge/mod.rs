//! The Workers entry point: the only wasm-only code. It converts between `worker` types and
//! the core's request/response model, provides the runtime traits on D1, KV, fetch, the JS
//! clock and `crypto.getRandomValues`, and keeps one `App` per isolate.

mod platform;

use std::cell::OnceCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::worker_sys::web_sys;
use worker::{event, Context, Env, Request};

use crate::app::App;
use crate::http::{ApiRequest, ApiResponse, Method};
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

fn app(env: &Env) -> Rc<App> {
    APP.with(|cell| cell.get_or_init(|| Rc::new(App::from_env(&|name| env_string(env, name)))).clone())
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let app = app(&env);
    let runtime = Runtime {
        db: Rc::new(platform::D1(platform::Lazy::new(&env, "DB", Env::d1))),
        kv: Rc::new(platform::Kv(platform::Lazy::new(&env, "KV", Env::kv))),
        http: Rc::new(platform::Fetch),
        clock: Rc::new(platform::JsClock),
        entropy: Rc::new(platform::JsEntropy),
        background: Rc::new(platform::WaitUntil(ctx)),
    };
    let url = req.url()?;
    let mut api_req = ApiRequest::new(req.method().as_ref(), url.path());
    api_req.query = url.query().unwrap_or("").to_owned();
    api_req.headers = req.headers().entries().collect();
    // A body declared larger than the limit is refused unread (413), not buffered first.
    let declared = api_req.header("content-length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
    if declared > crate::body::MAX_BODY_BYTES {
        api_req.unread_body_bytes = declared;
    } else if req.inner().body().is_some() {
        // (No body at all, as on most GETs: no read, no promise to wait for.)
        api_req.body = req.bytes().await.unwrap_or_default();
    }
    let is_head = api_req.method == Method::Head;

    let response = app.handle(&runtime, api_req).await;

    to_js(response, is_head)
}

/// The response as a JS `Response`, built directly: `worker::Response` would first set a
/// content type of its own, then replace the whole header set, then copy the body again.
fn to_js(response: ApiResponse, is_head: bool) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(response.status);
    init.set_headers(&headers);
    // The body is copied into a JS-owned array first: workerd may keep the buffer a Response
    // is made from and read it later, and a view of wasm memory would by then hold other data.
    let body = (!is_head && !response.body.is_empty()).then(|| js_sys::Uint8Array::from(response.body.as_slice()));
    Ok(web_sys::Response::new_with_opt_buffer_source_and_init(body.as_ref().map(|b| b.as_ref()), &init)?)
}
