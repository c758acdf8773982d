//! The request and response as the core sees them: plain data, no runtime types, so that a
//! handler can be driven natively with a request built in a test.

pub mod head;

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Other(String),
}

impl Method {
    /// Method names are case-sensitive (RFC 9110 §9.1): `get` is not GET. (Fetch upper-cases
    /// the six standard names on its own, so clients writing `get` still reach GET.)
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Other(s) => s,
        }
    }
}

/// The first value of header `name`, matched in any case, in a list of (name, value) pairs:
/// the one lookup behind requests, responses and vendor answers.
pub fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Declares `RequestHeader` with its `ALL` and `name` from one list, so that no header can be
/// read without also being handed over.
macro_rules! request_headers {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// The request headers rtcgate reads, and so the only ones the edge hands over: it asks
        /// the runtime for each by name instead of iterating every header a request carries
        /// (through Cloudflare's edge a dozen or more, most of them `cf-*` and forwarding headers).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum RequestHeader {
            $($(#[$doc])* $variant,)*
        }

        impl RequestHeader {
            pub const ALL: &'static [RequestHeader] = &[$(RequestHeader::$variant,)*];

            /// The header's name in lower case (how the runtime hands names over).
            pub const fn name(self) -> &'static str {
                match self {
                    $(RequestHeader::$variant => $name,)*
                }
            }
        }
    };
}

request_headers! {
    Authorization => "authorization",
    ContentType => "content-type",
    ContentLength => "content-length",
    IdempotencyKey => "idempotency-key",
    RequestId => "x-request-id",
    /// Agora's notification signatures (HMAC-SHA1 and HMAC-SHA256 of the body).
    AgoraSignature => "agora-signature",
    AgoraSignatureV2 => "agora-signature-v2",
}

#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: Method,
    /// The path without the query string, still percent-encoded.
    pub path: String,
    /// The raw query string without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The declared size of a body the edge refused to read because it is over the limit.
    pub unread_body_bytes: usize,
    /// The body could not be read to its end (the client went away mid-body): the request is
    /// refused before any handler runs, so a cut-off body never acts as a short one.
    pub body_incomplete: bool,
}

impl ApiRequest {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path_and_query.to_owned(), String::new()),
        };
        ApiRequest {
            method: Method::parse(method),
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
            unread_body_bytes: 0,
            body_incomplete: false,
        }
    }

    pub fn header(&self, header: RequestHeader) -> Option<&str> {
        header_value(&self.headers, header.name())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).expect("a Value always serializes");
        self.with_header("content-type", "application/json")
    }

    /// Decoded query parameters in order. `+` is a space, as in HTML forms.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json(status: u16, body: &Value) -> Self {
        Self::json_encoded(status, serde_json::to_vec(body).expect("a Value always serializes"))
    }

    /// A JSON answer whose body is already encoded.
    pub fn json_encoded(status: u16, body: Vec<u8>) -> Self {
        ApiResponse { status, headers: vec![("content-type".into(), "application/json; charset=utf-8".into())], body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    pub fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Decodes `%XX` escapes; an invalid escape is kept literally, invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Encodes everything but unreserved characters (RFC 3986), for query strings we send.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_are_distinct_lower_case_names_read_case_insensitively() {
        let names: Vec<&str> = RequestHeader::ALL.iter().map(|h| h.name()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|n| !n.is_empty() && *n == n.to_ascii_lowercase()), "{names:?}");
        let req = ApiRequest::new("GET", "/").with_header("X-Request-ID", "abc").with_header("x-other", "1");
        assert_eq!(req.header(RequestHeader::RequestId), Some("abc"));
        assert_eq!(req.header(RequestHeader::Authorization), None);
    }

    #[test]
    fn percent_round_trip() {
        for s in ["a b", "ü/?&=%", "plain", "%", "%4", "%zz"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_decode("%41%2f"), "A/");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn query_pairs_decode() {
        let r = ApiRequest::new("GET", "/x?limit=5&cursor=a%2Bb&q=a+b&flag");
        assert_eq!(
            r.query_pairs(),
            vec![
                ("limit".into(), "5".into()),
                ("cursor".into(), "a+b".into()),
                ("q".into(), "a b".into()),
                ("flag".into(), "".into())
            ]
        );
    }
}
