//! `POST /v1/rtc/room/message/{room}` `{data, encoding?, to?, topic?}` → `202 {ok: true}`.
//! One portable limit on every vendor: `MAX_MESSAGE_BYTES` of decoded data (`413
//! MESSAGE_TOO_LARGE` above it), at most `MAX_MESSAGE_TARGETS` distinct recipients, a topic of
//! at most `MAX_TOPIC_CHARS` characters. Counted by the per-key rate limit like every request.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::service::send;
use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::rooms::directory::RoomDirectory;
use crate::vendors::{RoomMessage, MAX_MESSAGE_BYTES, MAX_MESSAGE_TARGETS, MAX_TOPIC_CHARS};

pub async fn send_message(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let message = parse(&ctx.req.body)?;
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    send(ctx, &room, &message).await?;
    Ok(Reply { status: 202, ..Reply::ok(json!({ "ok": true })) })
}

/// The request as a `RoomMessage`, every field checked against the portable limits.
pub fn parse(body: &[u8]) -> ApiResult<RoomMessage> {
    let mut body = Body::parse(body)?;
    let data = body.optional_value("data");
    let encoding = body.optional_str("encoding", 16)?;
    let to = body.optional_value("to");
    let topic = body.optional_str("topic", MAX_TOPIC_CHARS)?;
    body.finish()?;
    let data = match data {
        None => return Err(ApiError::invalid_field("data", "'data' is required")),
        Some(Value::String(text)) => text,
        Some(_) => return Err(ApiError::invalid_field("data", "'data' must be a string")),
    };
    let data = match encoding.as_deref().unwrap_or("utf8") {
        "utf8" => data.into_bytes(),
        "base64" => STANDARD
            .decode(data.as_bytes())
            .map_err(|_| ApiError::invalid_field("data", "'data' is not standard base64 (with padding)"))?,
        _ => return Err(ApiError::invalid_field("encoding", "'encoding' must be \"utf8\" or \"base64\"")),
    };
    if data.is_empty() {
        return Err(ApiError::invalid_field("data", "'data' must not be empty"));
    }
    if data.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::new(
            ErrorCode::MessageTooLarge,
            format!("the message is {} bytes; the limit is {MAX_MESSAGE_BYTES} bytes of decoded data", data.len()),
        )
        .with_detail("field", "data")
        .with_detail("limit", MAX_MESSAGE_BYTES));
    }
    Ok(RoomMessage { data, to: recipients(to)?, topic })
}

/// `to`: 1 to `MAX_MESSAGE_TARGETS` distinct identities; absent = everyone in the room.
fn recipients(to: Option<Value>) -> ApiResult<Vec<String>> {
    let Some(to) = to else { return Ok(Vec::new()) };
    let Value::Array(items) = to else {
        return Err(ApiError::invalid_field("to", "'to' must be an array of identities"));
    };
    if items.is_empty() || items.len() > MAX_MESSAGE_TARGETS {
        return Err(ApiError::invalid_field(
            "to",
            format!("'to' names 1 to {MAX_MESSAGE_TARGETS} identities; leave it out to reach everyone"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(text) = item else {
            return Err(ApiError::invalid_field("to", "'to' must be an array of identities"));
        };
        let identity = Identity::parse(text).map_err(|e| e.with_detail("field", "to"))?;
        if out.iter().any(|seen| seen == identity.as_str()) {
            return Err(ApiError::invalid_field("to", format!("'to' names '{identity}' twice")));
        }
        out.push(identity.to_string());
    }
    Ok(out)
}
