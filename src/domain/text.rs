//! The rule every text a client names things with follows: not empty, not too long, and free
//! of control characters (they corrupt logs, URLs and client UIs).

use crate::error::{ApiError, ApiResult};

/// The OpenAPI `pattern` of such a text: no C0 or C1 control character and no DEL, which is
/// what `char::is_control` refuses.
pub const CONTROL_FREE_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// Checks `text`, the value of `field`: non-empty, at most `max_chars` characters (code
/// points, as JSON Schema's `maxLength` counts them; a vendor whose own limit is in bytes
/// checks that itself), no control characters.
pub fn check(field: &str, text: &str, max_chars: usize) -> ApiResult<()> {
    if text.is_empty() {
        Err(ApiError::invalid_field(field, format!("'{field}' must not be empty")))
    } else if text.chars().count() > max_chars {
        Err(ApiError::invalid_field(field, format!("'{field}' must be at most {max_chars} characters")))
    } else if text.chars().any(char::is_control) {
        Err(ApiError::invalid_field(field, format!("'{field}' must not contain control characters")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranges `CONTROL_FREE_PATTERN` excludes, read from the pattern itself.
    fn excluded_ranges() -> Vec<(u32, u32)> {
        let inner = CONTROL_FREE_PATTERN.strip_prefix("^[^").and_then(|p| p.strip_suffix("]*$")).unwrap();
        inner
            .split("\\u")
            .filter(|s| !s.is_empty())
            .map(|s| u32::from_str_radix(s.trim_end_matches('-'), 16).unwrap())
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|pair| (pair[0], pair[1]))
            .collect()
    }

    #[test]
    fn the_pattern_refuses_exactly_what_the_code_refuses() {
        let ranges = excluded_ranges();
        assert_eq!(ranges, [(0x0, 0x1f), (0x7f, 0x9f)]);
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let in_pattern = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&(c as u32)));
            assert_eq!(in_pattern, c.is_control(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn each_part_of_the_rule_names_the_field() {
        let refused = |text: &str| check("name", text, 3).unwrap_err();
        assert_eq!(refused("").message, "'name' must not be empty");
        assert_eq!(refused("abcd").message, "'name' must be at most 3 characters");
        assert_eq!(refused("a\u{85}").message, "'name' must not contain control characters");
        assert_eq!(refused("").details["field"], "name");
        assert!(check("name", "ééé", 3).is_ok(), "characters, not bytes");
    }
}
