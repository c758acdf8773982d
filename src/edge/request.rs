//! A request body without a declared length (chunked), read no further than the size limit.
//! (A body with `Content-Length` is read whole by the glue; see `fetch`.)

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{ByteStream, Request};

use crate::api::body::MAX_BODY_BYTES;
use crate::http::ApiRequest;
use crate::runtime::Runtime;

/// How much more of a refused body is read (and dropped) before the 413, at most, and for how
/// long the rest is waited for.
const DRAIN_MAX_BYTES: usize = 16 * MAX_BODY_BYTES;
const DRAIN_MAX_MS: u64 = 2_000;

/// Reads the body chunk by chunk and stops keeping it once it passes the limit, so a chunked
/// body is never buffered whole: what was read is counted in `unread_body_bytes` (at least the
/// limit plus one), and the rest is read and dropped before the answer (`drain`).
pub async fn read_bounded(mut req: Request, api_req: &mut ApiRequest, rt: &Runtime) {
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
            api_req.unread_body_bytes = body.len() + drain(&mut stream, rt).await;
            return;
        }
    }
    api_req.body = body;
}

/// Reads the rest of a refused body and drops it, for at most `DRAIN_MAX_BYTES` and
/// `DRAIN_MAX_MS`, and returns how many bytes it read. A response sent while the request body
/// is still unread (its reader released or cancelled, or read only after the response) leaves
/// the connection that carried it mid-request: `wrangler dev`'s proxy reuses that connection
/// for its next request, from any client, and answers that one `503 "Your worker restarted
/// mid-request"`. A body read to its end first leaves the connection in order. A client still
/// sending past either bound (or one that waits for the answer before it ends its body) gets
/// its 413 then, with the rest unread.
async fn drain(stream: &mut ByteStream, rt: &Runtime) -> usize {
    let deadline = rt.now_ms() + DRAIN_MAX_MS;
    let mut drained = 0;
    while drained <= DRAIN_MAX_BYTES {
        let left_ms = deadline.saturating_sub(rt.now_ms());
        if left_ms == 0 {
            break;
        }
        match select(stream.next(), rt.clock.sleep_ms(left_ms)).await {
            Either::Left((Some(Ok(chunk)), _)) => drained += chunk.len(),
            // The end of the body, a client gone, or time up.
            _ => break,
        }
    }
    drained
}
