//! The incoming Workers request as the core's `ApiRequest`: the method exactly as the client
//! sent it, and a body read no further than the size limit.

use futures_util::StreamExt;
use worker::Request;

use crate::body::MAX_BODY_BYTES;
use crate::http::ApiRequest;

/// Converts `req`. The method comes from the JS request itself: `worker::Method` maps every
/// method it does not know to GET, which would serve `QUERY /v1/health` as a GET.
pub async fn api_request(req: &mut Request) -> worker::Result<ApiRequest> {
    let url = req.url()?;
    let mut api_req = ApiRequest::new(&req.inner().method(), url.path());
    api_req.query = url.query().unwrap_or("").to_owned();
    api_req.headers = req.headers().entries().collect();
    // A body declared larger than the limit is refused unread (413), not buffered first.
    let declared = api_req.header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => api_req.unread_body_bytes = n,
        // The runtime holds a body to its declared length, so it is read whole in one call:
        // chunk by chunk costs several JS↔wasm crossings per chunk on every POST.
        Some(_) if req.inner().body().is_some() => api_req.body = req.bytes().await.unwrap_or_default(),
        Some(_) => {}
        None => read_bounded(req, &mut api_req).await,
    }
    Ok(api_req)
}

/// Reads the body chunk by chunk and stops once it passes the limit, so a body without
/// `Content-Length` (chunked) is never buffered whole: what was read is counted in
/// `unread_body_bytes` (at least the limit plus one), and the rest is never pulled.
async fn read_bounded(req: &mut Request, api_req: &mut ApiRequest) {
    // No body at all (most GETs): no read, no promise to wait for.
    if req.inner().body().is_none() {
        return;
    }
    // A stream that cannot be had is an empty body to us.
    let Ok(mut stream) = req.stream() else { return };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        // A client that breaks off mid-body sent what it sent; the handler judges that.
        let Ok(chunk) = chunk else { break };
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            api_req.unread_body_bytes = body.len();
            return;
        }
    }
    api_req.body = body;
}
