//! What a handler gets (`Ctx`) and what it answers (`Reply`).

use std::rc::Rc;

use serde_json::Value;

use crate::api::auth::Caller;
use crate::api::state::App;
use crate::http::ApiRequest;
use crate::runtime::Runtime;

/// Everything a handler gets.
pub struct Ctx<'a> {
    /// Shared, so work that must outlive the request (`Runtime::finish_even_if_cancelled`)
    /// can hold on to the app.
    pub app: &'a Rc<App>,
    pub rt: &'a Runtime,
    pub req: &'a ApiRequest,
    pub params: Vec<String>,
    /// The calling project, for API-key routes.
    pub caller: Option<Caller>,
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
