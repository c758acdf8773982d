//! The request and response heads as one string each, the form in which the edge hands them
//! across the JS↔wasm boundary: one crossing and one string copy per direction, instead of a
//! call per header and per field (each decoding or encoding its own small string). The format
//! is ours on both sides (`src/edge/glue.js` writes and reads it), so it is parsed here, in the
//! core, where it is tested natively.
//!
//! Request head: `METHOD \n URL \n BODY-FLAG \n name:value \n name:value …`, where BODY-FLAG is
//! `1` when the request declares a length or has a body stream, and `0` when it has neither,
//! and the headers are those of `RequestHeader::ALL` that the request has. Header names never
//! contain `:` and no header name or value can contain a line break (the Fetch `Headers` class
//! refuses them), so the lines need no escaping.
//!
//! Response head: `name:value` lines joined by `\n`.

use crate::http::{ApiRequest, ApiResponse};

/// A request head read off the wire, before any body.
pub struct RequestHead {
    pub request: ApiRequest,
    /// The request carries a body stream (it may still be empty).
    pub has_body: bool,
}

/// Parses a request head. A string the glue cannot have written (missing lines) still parses,
/// with the missing parts empty, so the router refuses it like any unknown route.
pub fn parse_request(head: &str) -> RequestHead {
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or("");
    let url = lines.next().unwrap_or("");
    let has_body = lines.next() == Some("1");
    let mut request = ApiRequest::new(method, path_and_query(url));
    request.headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    RequestHead { request, has_body }
}

/// The path and query of an absolute URL as the runtime serializes it (WHATWG: already
/// normalized and percent-encoded, never with a fragment), without scheme and authority.
fn path_and_query(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    match after_scheme.find(['/', '?']) {
        Some(i) if after_scheme[i..].starts_with('/') => &after_scheme[i..],
        // `http://host?q` (no path) or `http://host`: the path is `/`.
        _ => "/",
    }
}

/// The response's headers as `name:value` lines. A header value that somehow holds a line
/// break is cut at it, so one header can never become two.
pub fn response_head(response: &ApiResponse) -> String {
    let mut head = String::with_capacity(response.headers.len() * 40);
    for (name, value) in &response.headers {
        if !head.is_empty() {
            head.push('\n');
        }
        head.push_str(name);
        head.push(':');
        head.push_str(value.split(['\r', '\n']).next().unwrap_or(""));
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Method, RequestHeader};

    #[test]
    fn a_request_head_gives_method_path_query_headers_and_body_flag() {
        let head = "POST\nhttps://api.example.com/v1/rtc/token/issue?x=1&y=a%20b\n1\ncontent-type:application/json\nauthorization:Bearer k:v";
        let parsed = parse_request(head);
        assert_eq!(parsed.request.method, Method::Post);
        assert_eq!(parsed.request.path, "/v1/rtc/token/issue");
        assert_eq!(parsed.request.query, "x=1&y=a%20b");
        assert!(parsed.has_body);
        assert_eq!(parsed.request.header(RequestHeader::ContentType), Some("application/json"));
        // Only the first colon separates: a value keeps its own colons.
        assert_eq!(parsed.request.header(RequestHeader::Authorization), Some("Bearer k:v"));
        assert_eq!(parsed.request.headers.len(), 2);
    }

    #[test]
    fn a_request_without_headers_or_body_parses() {
        let parsed = parse_request("QUERY\nhttp://127.0.0.1:8787/v1/health\n0");
        assert_eq!(parsed.request.method, Method::Other("QUERY".into()));
        assert_eq!(parsed.request.path, "/v1/health");
        assert_eq!(parsed.request.query, "");
        assert!(!parsed.has_body);
        assert!(parsed.request.headers.is_empty());
    }

    #[test]
    fn a_url_without_a_path_is_the_root() {
        assert_eq!(path_and_query("http://host"), "/");
        assert_eq!(path_and_query("http://host?q=1"), "/");
        assert_eq!(path_and_query("http://host/"), "/");
        assert_eq!(path_and_query("http://user@host:80/a/b?c"), "/a/b?c");
    }

    #[test]
    fn a_head_the_glue_cannot_have_written_is_no_route() {
        let parsed = parse_request("GET\nhttp://h/v1/health");
        assert_eq!(parsed.request.path, "/v1/health");
        assert!(!parsed.has_body);
        let empty = parse_request("");
        assert_eq!(empty.request.method, Method::Other(String::new()));
        assert_eq!(empty.request.path, "/");
    }

    #[test]
    fn a_response_head_is_one_line_per_header_and_never_splits_a_value() {
        let mut response = ApiResponse::json(200, &serde_json::json!({}));
        response.set_header("x-request-id", "abc");
        response.set_header("x-bad", "one\r\nset-cookie: two");
        let head = response_head(&response);
        assert_eq!(head, "content-type:application/json; charset=utf-8\nx-request-id:abc\nx-bad:one");
        assert_eq!(response_head(&ApiResponse { status: 204, headers: vec![], body: vec![] }), "");
    }
}
