//! Outbound HTTP for native tests: each request is recorded and answered by the responder
//! the test installed, so a test states exactly what the vendor says back.

use std::cell::RefCell;

use async_trait::async_trait;
use serde_json::Value;

use crate::runtime::{Http, HttpError, OutboundRequest, OutboundResponse};

type Responder = Box<dyn Fn(&OutboundRequest) -> Result<OutboundResponse, HttpError>>;

#[derive(Default)]
pub struct ScriptedHttp {
    responder: RefCell<Option<Responder>>,
    sent: RefCell<Vec<OutboundRequest>>,
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
        match &*self.responder.borrow() {
            Some(f) => f(&request),
            None => Err(HttpError::Unreachable(format!("no scripted answer for {}", request.url))),
        }
    }
}
