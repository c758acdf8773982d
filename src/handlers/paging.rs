//! Query parameters for list routes: `limit` and the opaque keyset `cursor`.
//! A cursor encodes the last item's (timestamp, id); it stays valid while items are created
//! and deleted, so paging never repeats or skips an item that existed throughout.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::ApiRequest;
use crate::store::Cursor;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

pub struct ListQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
    /// Other parameters, for routes that take filters.
    pub rest: Vec<(String, String)>,
}

pub fn encode_cursor(ms: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ms}.{id}"))
}

fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (ms, id) = text.split_once('.')?;
    let ms: i64 = ms.parse().ok()?;
    let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (ms >= 0 && valid_id).then(|| (ms, id.to_owned()))
}

/// Parses `limit` and `cursor`; `allowed` names the other parameters the route accepts.
pub fn parse(req: &ApiRequest, allowed: &[&str]) -> ApiResult<ListQuery> {
    let mut q = ListQuery { limit: DEFAULT_LIMIT, after: None, rest: Vec::new() };
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "limit" => {
                q.limit = v.parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                    ApiError::invalid_field("limit", format!("'limit' must be a whole number from 1 to {MAX_LIMIT}"))
                })?;
            }
            "cursor" if !v.is_empty() => {
                let (at_ms, id) = decode_cursor(&v)
                    .ok_or_else(|| ApiError::invalid_field("cursor", "'cursor' is not a cursor this API returned"))?;
                q.after = Some(Cursor { at_ms, id });
            }
            "cursor" => {}
            other if allowed.contains(&other) => q.rest.push((k.clone(), v)),
            other => {
                return Err(ApiError::new(ErrorCode::UnknownField, format!("unknown query parameter '{other}'"))
                    .with_detail("field", other))
            }
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_forgeries() {
        let c = encode_cursor(1_700_000_000_123, "rm_abc");
        assert_eq!(decode_cursor(&c), Some((1_700_000_000_123, "rm_abc".into())));
        for bad in ["", "!!", "bm90YWN1cnNvcg", &URL_SAFE_NO_PAD.encode("x.rm"), &URL_SAFE_NO_PAD.encode("1.rm'--")] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        let q = parse(&ApiRequest::new("GET", "/x?limit=7"), &[]).unwrap();
        assert_eq!((q.limit, q.after), (7, None));
        assert_eq!(parse(&ApiRequest::new("GET", "/x"), &[]).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["limit=0", "limit=101", "limit=x", "limit=-1", "cursor=zz", "nope=1"] {
            assert!(parse(&ApiRequest::new("GET", &format!("/x?{bad}")), &[]).is_err(), "{bad}");
        }
        let q = parse(&ApiRequest::new("GET", "/x?room=a"), &["room"]).unwrap();
        assert_eq!(q.rest, vec![("room".to_owned(), "a".to_owned())]);
    }
}
