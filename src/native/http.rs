//! Outbound HTTP for native tests: each request is recorded and answered by the responder
//! the test installed, so a test states exactly what the vendor says back. A scripted body
//! longer than the request's `max_response_bytes` fails the exchange as the Worker's does.

use std::cell::{Cell, RefCell};
use std::task::Poll;

use async_trait::async_trait;
use serde_json::Value;

use crate::runtime::{Http, HttpError, OutboundRequest, OutboundResponse};

type Responder = Box<dyn Fn(&OutboundRequest) -> Result<OutboundResponse, HttpError>>;

#[derive(Default)]
pub struct ScriptedHttp {
    responder: RefCell<Option<Responder>>,
    sent: RefCell<Vec<OutboundRequest>>,
    /// How many times each request waits (is pending) after it was sent, before its answer.
    waits: Cell<u32>,
}

/// One recorded request, with its body parsed when it is JSON.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub request: OutboundRequest,
    pub json: Option<Value>,
}

impl ScriptedHttp {
    pub fn respond_with(&self, f: impl Fn(&OutboundRequest) -> Result<OutboundResponse, HttpError> + 'static) {
        *self.responder.borrow_mut() = Some(Box::new(f));
    }

    /// Makes every request wait `times` polls between being sent and being answered, as a
    /// vendor call over the network would: the caller can be dropped while the vendor has the
    /// request but has not answered.
    pub fn wait_before_answering(&self, times: u32) {
        self.waits.set(times);
    }

    pub fn sent(&self) -> Vec<Exchange> {
        self.sent
            .borrow()
            .iter()
            .map(|r| Exchange {
                request: r.clone(),
                json: r.body.as_deref().and_then(|b| serde_json::from_slice(b).ok()),
            })
            .collect()
    }

    pub fn clear(&self) {
        self.sent.borrow_mut().clear();
    }
}

/// A JSON answer with `status`.
pub fn json_response(status: u16, body: &Value) -> Result<OutboundResponse, HttpError> {
    Ok(OutboundResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).expect("a Value always serializes"),
    })
}

#[async_trait(?Send)]
impl Http for ScriptedHttp {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError> {
        self.sent.borrow_mut().push(request.clone());
        let mut waits = self.waits.get();
        std::future::poll_fn(|cx| {
            if waits == 0 {
                return Poll::Ready(());
            }
            waits -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        let answer = match &*self.responder.borrow() {
            Some(f) => f(&request),
            None => Err(HttpError::Unreachable(format!("no scripted answer for {}", request.url))),
        };
        // As the Worker's fetch: a body past the cap is not read on, and the exchange fails.
        match answer {
            Ok(r) if r.body.len() > request.max_response_bytes => Err(HttpError::TooLarge { status: r.status }),
            other => other,
        }
    }
}
