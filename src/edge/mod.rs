//! The Workers entry point: the only wasm-only code. It converts between `worker` types and
//! the core's request/response model, provides the runtime traits on D1, KV, fetch, the JS
//! clock and `crypto.getRandomValues`, and keeps one `App` per isolate.

mod platform;
mod request;

use std::cell::OnceCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::worker_sys::web_sys;
use worker::{event, Context, Env, MessageBatch, MessageExt};

use crate::app::App;
use crate::http::{ApiResponse, Method};
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

/// The runtime of one invocation. Bindings are looked up on first use, so a request that needs
/// no D1, KV or queue (a warm token, health) pays for none of them.
fn runtime(env: &Env, ctx: Context) -> Runtime {
    Runtime {
        db: Rc::new(platform::D1(platform::Lazy::new(env, "DB", Env::d1))),
        kv: Rc::new(platform::Kv(platform::Lazy::new(env, "KV", Env::kv))),
        http: Rc::new(platform::Fetch),
        clock: Rc::new(platform::JsClock),
        entropy: Rc::new(platform::JsEntropy),
        background: Rc::new(platform::WaitUntil(ctx)),
        queue: Rc::new(platform::Queue(platform::Lazy::new(env, "DELIVERIES", Env::queue))),
    }
}

/// The webhook delivery queue's consumer: each message is one delivery attempt. The core
/// schedules its own retries (with backoff) as new messages, so a handled message is acked;
/// only a failure to handle it (storage down) leaves it to the queue's own retry.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, ctx: Context) -> worker::Result<()> {
    let app = app(&env);
    let runtime = runtime(&env, ctx);
    for message in batch.messages()? {
        match crate::webhooks::delivery::consume(&app.settings, &runtime, message.body()).await {
            Ok(()) => message.ack(),
            Err(e) => {
                crate::log::error(&format!("webhook delivery: {e}"));
                message.retry();
            }
        }
    }
    Ok(())
}

#[event(fetch)]
async fn fetch(mut req: worker::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let app = app(&env);
    let runtime = runtime(&env, ctx);
    let api_req = request::api_request(&mut req).await?;
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
