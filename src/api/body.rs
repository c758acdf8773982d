//! Reads a JSON request body field by field, so every error names its field and every
//! field the handler did not ask for is reported as unknown (a typo never passes silently).

use serde_json::{Map, Value};

use crate::domain::text;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Body {
    fields: Map<String, Value>,
}

impl Body {
    /// Parses a body that must be a JSON object. An empty body counts as `{}`.
    pub fn parse(bytes: &[u8]) -> ApiResult<Body> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body { fields: Map::new() });
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("request body is not valid JSON: {e}")))?;
        match value {
            Value::Object(fields) => Ok(Body { fields }),
            _ => Err(ApiError::new(ErrorCode::InvalidJson, "request body must be a JSON object")),
        }
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        // An explicit null means the same as an absent optional field.
        self.fields.remove(field).filter(|v| !v.is_null())
    }

    /// A non-empty string of at most `max_len` characters without control characters.
    pub fn required_str(&mut self, field: &str, max_len: usize) -> ApiResult<String> {
        self.required_parsed(field, |s| text::check(field, &s, max_len).map(|()| s))
    }

    pub fn optional_str(&mut self, field: &str, max_len: usize) -> ApiResult<Option<String>> {
        self.optional_parsed(field, |s| text::check(field, &s, max_len).map(|()| s))
    }

    /// A required string parsed into its domain type by `parse`, which applies its rule.
    pub fn required_parsed<T>(&mut self, field: &str, parse: impl FnOnce(String) -> ApiResult<T>) -> ApiResult<T> {
        self.optional_parsed(field, parse)?
            .ok_or_else(|| ApiError::invalid_field(field, format!("'{field}' is required")))
    }

    /// An optional string parsed into its domain type by `parse`.
    pub fn optional_parsed<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(String) -> ApiResult<T>,
    ) -> ApiResult<Option<T>> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) => parse(s).map(Some),
            Some(_) => Err(ApiError::invalid_field(field, format!("'{field}' must be a string"))),
        }
    }

    /// A field of any JSON type, for the caller to check (null counts as absent).
    pub fn optional_value(&mut self, field: &str) -> Option<Value> {
        self.take(field)
    }

    pub fn optional_bool(&mut self, field: &str) -> ApiResult<Option<bool>> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(ApiError::invalid_field(field, format!("'{field}' must be true or false"))),
        }
    }

    /// A whole number in `min..=max`. JSON numbers like `5.0` are accepted; `5.5` is not.
    pub fn optional_int(&mut self, field: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let Some(value) = self.take(field) else { return Ok(None) };
        let n = match &value {
            Value::Number(n) => {
                n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
            }
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(_) => Err(ApiError::invalid_field(field, format!("'{field}' must be between {min} and {max}"))),
            None => Err(ApiError::invalid_field(field, format!("'{field}' must be a whole number"))),
        }
    }

    /// A JSON object (free-form metadata), limited in its serialized size.
    pub fn optional_object(&mut self, field: &str, max_bytes: usize) -> ApiResult<Option<Map<String, Value>>> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(usize::MAX);
                if size > max_bytes {
                    Err(ApiError::invalid_field(
                        field,
                        format!("'{field}' must serialize to at most {max_bytes} bytes of JSON"),
                    ))
                } else {
                    Ok(Some(map))
                }
            }
            Some(_) => Err(ApiError::invalid_field(field, format!("'{field}' must be a JSON object"))),
        }
    }

    /// Call last: any field nobody asked for is an error naming it.
    pub fn finish(self) -> ApiResult<()> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(unknown) => Err(ApiError::new(ErrorCode::UnknownField, format!("unknown field '{unknown}'"))
                .with_detail("field", unknown.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Body {
        Body::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn malformed_and_non_object_bodies_are_invalid_json() {
        for bad in ["{", "[1]", "\"x\"", "nul", "{\"a\":1,}"] {
            let err = Body::parse(bad.as_bytes()).err().unwrap();
            assert_eq!(err.code, ErrorCode::InvalidJson, "{bad}");
        }
        assert!(Body::parse(b"  ").is_ok());
    }

    #[test]
    fn fields_are_typed_and_named_in_errors() {
        let mut b = body(r#"{"name":"x","n":5.0,"f":5.5,"flag":"yes","m":{"a":1}}"#);
        assert_eq!(b.required_str("name", 10).unwrap(), "x");
        assert_eq!(b.optional_int("n", 1, 10).unwrap(), Some(5));
        let e = b.optional_int("f", 1, 10).unwrap_err();
        assert_eq!((e.code, e.details["field"].as_str()), (ErrorCode::InvalidRequest, Some("f")));
        let e = b.optional_bool("flag").unwrap_err();
        assert_eq!(e.details["field"], "flag");
        assert!(b.optional_object("m", 100).unwrap().is_some());
        b.finish().unwrap();
    }

    #[test]
    fn range_length_and_presence_are_checked() {
        let mut b = body(r#"{"n":0,"s":"abcdef","e":""}"#);
        assert!(b.optional_int("n", 1, 10).unwrap_err().message.contains("between 1 and 10"));
        assert!(b.optional_str("s", 3).unwrap_err().message.contains("at most 3"));
        assert!(b.optional_str("e", 3).unwrap_err().message.contains("empty"));
        assert!(b.required_str("missing", 3).unwrap_err().message.contains("required"));
        let mut b = body(r#"{"m":{"k":"0123456789"}}"#);
        assert!(b.optional_object("m", 8).is_err());
        let mut b = body(r#"{"s":"a\u0000b"}"#);
        assert!(b.optional_str("s", 10).is_err());
    }

    #[test]
    fn null_is_absent_and_unknown_fields_are_named() {
        let mut b = body(r#"{"a":null,"nmae":"typo"}"#);
        assert_eq!(b.optional_str("a", 5).unwrap(), None);
        let e = b.finish().unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.details["field"], "nmae");
    }
}
