//! Reading LiveKit answers as proto3 JSON writes them: an absent or null field is its
//! default, int64 comes as a decimal string, enums by name (numbers are accepted too). A
//! field of the wrong type is the vendor's fault: `ServerError`.

use serde_json::Value;

use super::twirp::{malformed, Method};
use crate::vendors::VendorError;

/// Reads fields of one message of a `method`'s answer with proto3 JSON rules.
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    pub method: Method,
    pub message: &'a Value,
}

/// An enum value as proto3 JSON may write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumValue<'a> {
    Name(&'a str),
    Number(i64),
}

impl<'a> EnumValue<'a> {
    /// Whether this is the value `name` = `number`.
    pub fn is(self, name: &str, number: i64) -> bool {
        match self {
            EnumValue::Name(n) => n == name,
            EnumValue::Number(v) => v == number,
        }
    }
}

impl<'a> Fields<'a> {
    pub fn of(method: Method, message: &'a Value) -> Result<Fields<'a>, VendorError> {
        if message.is_object() {
            Ok(Fields { method, message })
        } else {
            Err(malformed(method, "a message is not a JSON object"))
        }
    }

    fn get(self, name: &str) -> Option<&'a Value> {
        self.message.get(name).filter(|v| !v.is_null())
    }

    fn wrong(self, name: &str, expected: &str) -> VendorError {
        malformed(self.method, &format!("`{name}` is not {expected}"))
    }

    pub fn str(self, name: &str) -> Result<&'a str, VendorError> {
        match self.get(name) {
            None => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.wrong(name, "a string")),
        }
    }

    pub fn uint32(self, name: &str) -> Result<u32, VendorError> {
        let n = match self.get(name) {
            None => return Ok(0),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            Some(_) => None,
        };
        n.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| self.wrong(name, "a uint32"))
    }

    /// int64 fields come as decimal strings; a number is accepted too.
    pub fn int64(self, name: &str) -> Result<i64, VendorError> {
        let n = match self.get(name) {
            None => return Ok(0),
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            Some(_) => None,
        };
        n.ok_or_else(|| self.wrong(name, "an int64"))
    }

    pub fn enumeration(self, name: &str) -> Result<EnumValue<'a>, VendorError> {
        match self.get(name) {
            None => Ok(EnumValue::Number(0)),
            Some(Value::String(s)) => Ok(EnumValue::Name(s)),
            Some(Value::Number(n)) => {
                n.as_i64().map(EnumValue::Number).ok_or_else(|| self.wrong(name, "an enum value"))
            }
            Some(_) => Err(self.wrong(name, "an enum value")),
        }
    }

    pub fn list(self, name: &str) -> Result<&'a [Value], VendorError> {
        match self.get(name) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.wrong(name, "a list")),
        }
    }

    /// A singular message field; `None` when unset.
    pub fn message(self, name: &str) -> Result<Option<Fields<'a>>, VendorError> {
        self.get(name).map(|m| Fields::of(self.method, m)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::vendors::VendorFailure;

    #[test]
    fn fields_follow_proto3_json() {
        let m = json!({"s": "x", "n": 3, "ns": "4", "i": "-5", "inum": 6, "e": "EGRESS_ACTIVE", "en": 2,
                       "l": [1], "o": {"a": 1}, "null": null, "bad": true, "big": 5_000_000_000u64});
        let f = Fields::of(Method::ListEgress, &m).unwrap();
        assert_eq!(f.str("s").unwrap(), "x");
        assert_eq!(f.str("absent").unwrap(), "");
        assert_eq!(f.str("null").unwrap(), "");
        assert_eq!(f.uint32("n").unwrap(), 3);
        assert_eq!(f.uint32("ns").unwrap(), 4);
        assert_eq!(f.uint32("absent").unwrap(), 0);
        assert_eq!(f.int64("i").unwrap(), -5);
        assert_eq!(f.int64("inum").unwrap(), 6);
        assert_eq!(f.int64("absent").unwrap(), 0);
        assert_eq!(f.enumeration("e").unwrap(), EnumValue::Name("EGRESS_ACTIVE"));
        assert_eq!(f.enumeration("en").unwrap(), EnumValue::Number(2));
        assert_eq!(f.enumeration("absent").unwrap(), EnumValue::Number(0));
        assert!(EnumValue::Number(2).is("X", 2) && EnumValue::Name("X").is("X", 9) && !EnumValue::Name("Y").is("X", 0));
        assert_eq!(f.list("l").unwrap().len(), 1);
        assert!(f.list("absent").unwrap().is_empty());
        assert!(f.message("o").unwrap().is_some());
        assert!(f.message("null").unwrap().is_none());
        for wrong in [
            f.str("bad").err(),
            f.uint32("big").err(),
            f.uint32("s").err(),
            f.int64("s").err(),
            f.enumeration("bad").err(),
            f.list("o").err(),
            f.message("l").err(),
        ] {
            assert_eq!(wrong.expect("wrong type is an error").failure, VendorFailure::ServerError);
        }
        assert!(Fields::of(Method::ListEgress, &json!("x")).is_err());
    }
}
