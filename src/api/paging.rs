//! Query parameters for list routes: `limit` and the keyset `cursor`.
//! A cursor names the last item of a page, `<ms>.<id>` (its timestamp in Unix milliseconds and
//! its id); it stays valid while items are created and deleted, so paging never repeats or
//! skips an item that existed throughout. Its form is public (`CURSOR_PATTERN`, also in the
//! OpenAPI document), so every string of that form is a cursor: one the client wrote itself
//! just starts the page after that point, within the caller's own project.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::ApiRequest;
use crate::store::Cursor;
use crate::time::parse_rfc3339;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// The cursor's form: a timestamp without leading zeros (at most 16 digits), a dot, an id.
pub const CURSOR_PATTERN: &str = "^(0|[1-9][0-9]{0,15})\\.[A-Za-z0-9_]{1,64}$";
const MAX_MS_DIGITS: usize = 16;
const MAX_ID_BYTES: usize = 64;

pub struct ListQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
    /// Other parameters, for routes that take filters.
    pub rest: Vec<(String, String)>,
}

pub fn encode_cursor(ms: i64, id: &str) -> String {
    format!("{ms}.{id}")
}

/// Reads exactly the strings `CURSOR_PATTERN` matches.
fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let (ms, id) = cursor.split_once('.')?;
    let digits_ok = !ms.is_empty()
        && ms.len() <= MAX_MS_DIGITS
        && ms.bytes().all(|b| b.is_ascii_digit())
        && (ms == "0" || !ms.starts_with('0'));
    let id_ok =
        !id.is_empty() && id.len() <= MAX_ID_BYTES && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !(digits_ok && id_ok) {
        return None;
    }
    Some((ms.parse().ok()?, id.to_owned()))
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

/// A time bound of a query (`from`, `to`) in Unix milliseconds: any RFC 3339 date-time or a
/// `YYYY-MM-DD` date (midnight UTC). Nothing is recorded before 1970, so an earlier instant
/// means "from the beginning".
pub fn time_bound(field: &str, value: &str) -> ApiResult<u64> {
    parse_rfc3339(value).map(|ms| ms.max(0) as u64).ok_or_else(|| {
        ApiError::invalid_field(field, format!("'{field}' must be an RFC 3339 date-time or a YYYY-MM-DD date"))
    })
}

/// `[from, to)` must hold some time: two well-formed bounds that leave none contradict each
/// other (a 422 naming `from`), which is not a malformed request. `to_default` says what `to`
/// is when not given.
pub fn check_range(from_ms: u64, to_ms: u64, to_default: &str) -> ApiResult<()> {
    if from_ms >= to_ms {
        return Err(ApiError::new(
            ErrorCode::ConflictingFields,
            format!("'from' must be before 'to' (default: {to_default})"),
        )
        .with_detail("field", "from"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_reads_exactly_its_pattern() {
        let c = encode_cursor(1_700_000_000_123, "rm_abc");
        assert_eq!(c, "1700000000123.rm_abc");
        assert_eq!(decode_cursor(&c), Some((1_700_000_000_123, "rm_abc".into())));
        assert_eq!(decode_cursor("0.a"), Some((0, "a".into())));
        assert_eq!(
            decode_cursor(&format!("{}.{}", "9".repeat(16), "z".repeat(64))).map(|(ms, _)| ms),
            Some(9_999_999_999_999_999)
        );
        let bad = [
            "",
            ".",
            "1.",
            ".rm",
            "01.rm",
            "-1.rm",
            "+1.rm",
            "1.rm'--",
            "1.rm.x",
            "1.rm x",
            "x.rm",
            "1e3.rm",
            "MTcwMDAwMDAwMDEyMy5ybV9hYmM",
            "١.rm",
        ];
        for bad in
            bad.iter().map(|s| s.to_string()).chain([format!("{}.a", "1".repeat(17)), format!("1.{}", "a".repeat(65))])
        {
            assert_eq!(decode_cursor(&bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        let q = parse(&ApiRequest::new("GET", "/x?limit=7"), &[]).unwrap();
        assert_eq!((q.limit, q.after), (7, None));
        assert_eq!(parse(&ApiRequest::new("GET", "/x"), &[]).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["limit=0", "limit=101", "limit=x", "limit=-1", "cursor=zz", "cursor=01.rm", "nope=1"] {
            assert!(parse(&ApiRequest::new("GET", &format!("/x?{bad}")), &[]).is_err(), "{bad}");
        }
        let q = parse(&ApiRequest::new("GET", "/x?room=a"), &["room"]).unwrap();
        assert_eq!(q.rest, vec![("room".to_owned(), "a".to_owned())]);
    }
}
