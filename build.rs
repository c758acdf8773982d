//! Embeds `api/openapi.json` without its indentation (`resources::health::OPENAPI_JSON`): the
//! document is served parsed and re-encoded, so its layout never reaches a client, and the
//! whitespace was about a third of its bytes in the Worker (docs/performance.md).

use std::path::Path;

fn main() {
    let source = "api/openapi.json";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("api/openapi.json is readable");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.min.json");
    std::fs::write(out, without_insignificant_whitespace(&text)).expect("OUT_DIR is writable");
}

/// The JSON text without the whitespace between its tokens; strings are kept byte for byte.
fn without_insignificant_whitespace(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
