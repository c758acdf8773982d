//! The Workers entry point: the only wasm-only code. It converts between `worker` types and
//! the core's request/response model, provides the runtime traits on D1, KV, fetch, the JS
//! clock and `crypto.getRandomValues`, and keeps one `App` per isolate.

mod platform;
mod request;

use std::cell::OnceCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::{event, Context, Env, Headers, MessageBatch, MessageExt, Request, Response};

use crate::app::App;
use crate::http::Method;
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

fn runtime(env: &Env, ctx: Context) -> worker::Result<Runtime> {
    Ok(Runtime {
        db: Rc::new(platform::D1(env.d1("DB")?)),
        kv: Rc::new(platform::Kv(env.kv("KV")?)),
        http: Rc::new(platform::Fetch),
        clock: Rc::new(platform::JsClock),
        entropy: Rc::new(platform::JsEntropy),
        background: Rc::new(platform::WaitUntil(ctx)),
        queue: Rc::new(platform::Queue(env.queue("DELIVERIES")?)),
    })
}

/// The webhook delivery queue's consumer: each message is one delivery attempt. The core
/// schedules its own retries (with backoff) as new messages, so a handled message is acked;
/// only a failure to handle it (storage down) leaves it to the queue's own retry.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, ctx: Context) -> worker::Result<()> {
    let app = app(&env);
    let runtime = runtime(&env, ctx)?;
    for message in batch.messages()? {
        match crate::webhooks::delivery::consume(&app.settings.webhooks, &runtime, message.body()).await {
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
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let app = app(&env);
    let runtime = runtime(&env, ctx)?;
    let api_req = request::api_request(&mut req).await?;
    let is_head = api_req.method == Method::Head;

    let response = app.handle(&runtime, api_req).await;

    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.set(name, value)?;
    }
    let body = if is_head { Vec::new() } else { response.body };
    Ok(Response::from_bytes(body)?.with_status(response.status).with_headers(headers))
}
