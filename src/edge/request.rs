//! A request body without a declared length (chunked), read no further than the size limit.
//! (A body with `Content-Length` is read whole by the glue; see `fetch`.)

use futures_util::StreamExt;
use worker::Request;

use crate::body::MAX_BODY_BYTES;
use crate::http::ApiRequest;

/// Reads the body chunk by chunk and stops once it passes the limit, so a chunked body is
/// never buffered whole: what was read is counted in `unread_body_bytes` (at least the limit
/// plus one), and the rest is never pulled.
pub async fn read_bounded(mut req: Request, api_req: &mut ApiRequest) {
    // A stream that cannot be had is an empty body to us.
    let Ok(mut stream) = req.stream() else { return };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        // A client that breaks off mid-body: the request is refused, not handled short.
        let Ok(chunk) = chunk else {
            api_req.body_incomplete = true;
            return;
        };
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            api_req.unread_body_bytes = body.len();
            return;
        }
    }
    api_req.body = body;
}
