//! `api/openapi.json` must describe exactly the routes the router serves and exactly the
//! error codes the code can send. Run: `cargo test --test openapi_routes`.

use std::collections::BTreeSet;

use rtcgate::api::router::table;
use rtcgate::error::ErrorCode;
use rtcgate::resources::health::OPENAPI_JSON;
use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn doc() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("api/openapi.json is valid JSON")
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}")))
        }
        None => v,
    }
}

/// The `{name}`s of a templated path, in order.
fn template_names(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

/// The route table's pattern with its `{}` placeholders named, by position, like `doc_path`.
fn name_placeholders(pattern: &str, doc_path: &str) -> Option<String> {
    let (pat, doc): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), doc_path.split('/').collect());
    if pat.len() != doc.len() {
        return None;
    }
    let mut out = Vec::new();
    for (p, d) in pat.iter().zip(&doc) {
        match *p {
            "{}" if d.starts_with('{') && d.ends_with('}') && d.len() > 2 => out.push(*d),
            "{}" => return None,
            literal if literal == *d => out.push(literal),
            _ => return None,
        }
    }
    Some(out.join("/"))
}

fn doc_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_table() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let doc_ops = doc_operations(&doc);
    let doc_paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();

    let mut table_ops = BTreeSet::new();
    for (method, pattern) in table() {
        // Name the table's placeholders after the document path with the same shape.
        let named: Vec<String> = doc_paths.iter().filter_map(|p| name_placeholders(pattern, p)).collect();
        assert!(named.len() <= 1, "{pattern} matches several document paths: {named:?}");
        let path = named.into_iter().next().unwrap_or_else(|| pattern.to_owned());
        assert!(table_ops.insert((method.to_owned(), path.clone())), "the route table lists {method} {path} twice");
    }

    let missing: Vec<_> = table_ops.difference(&doc_ops).collect();
    let extra: Vec<_> = doc_ops.difference(&table_ops).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes not documented: {missing:?}; documented but not routed: {extra:?}"
    );
}

#[test]
fn every_operation_is_complete() {
    let doc = doc();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{method} {path}");
            // Vendor webhooks are authenticated by the vendor's signature over a body of the
            // vendor's shape, not by a bearer key over one of ours.
            let vendor_signed = path.starts_with("/v1/vendor-events/");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");

            // Path parameters: exactly the template's names, each declared once.
            let declared: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{at}: path parameter {} must be required", p["name"]);
                    p["name"].as_str().unwrap().to_owned()
                })
                .collect();
            assert_eq!(declared, template_names(path), "{at}: path parameters");

            // A success and error responses that use the shared envelope.
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{at}: no responses"));
            assert!(responses.keys().any(|s| s.starts_with('2')), "{at}: no success response");
            // Every route that reads or writes storage can meet a transient storage failure.
            if responses.contains_key("500") {
                assert!(responses.contains_key("503"), "{at}: 500 without 503 (STORAGE_UNAVAILABLE)");
            }
            for (status, response) in responses {
                let response = resolve(&doc, response);
                assert!(response["headers"].get("X-Request-Id").is_some(), "{at} {status}: no X-Request-Id header");
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"];
                    assert_eq!(schema["$ref"], "#/components/schemas/Error", "{at} {status}: not the Error envelope");
                }
                if status == "401" && !vendor_signed {
                    assert!(
                        response["headers"].get("WWW-Authenticate").is_some(),
                        "{at}: 401 without WWW-Authenticate"
                    );
                }
                if status == "405" {
                    assert!(response["headers"].get("Allow").is_some(), "{at}: 405 without Allow");
                }
            }

            // Public routes are exactly health and the document; the rest name a scheme.
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{at}: no security"));
            let public = vendor_signed || matches!(path.as_str(), "/v1/health" | "/v1/openapi.json");
            assert_eq!(security.is_empty(), public, "{at}: security");
            let scheme = if path.starts_with("/v1/admin/") { "adminToken" } else { "apiKey" };
            if !public {
                assert!(security.iter().all(|s| s.get(scheme).is_some()), "{at}: expected {scheme}");
            }

            // Request bodies refuse unknown fields, as the API does.
            if let Some(body) = op.get("requestBody").filter(|_| !vendor_signed) {
                let schema = resolve(&doc, &body["content"]["application/json"]["schema"]);
                assert_eq!(schema["additionalProperties"], false, "{at}: request body must not allow unknown fields");
            }
        }
    }
}

/// Every variant of `ErrorCode`. The match below fails to compile when a variant is added,
/// so this list (and then the document) has to follow.
const ALL_CODES: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::InvalidRequest,
    ErrorCode::UnknownField,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::RouteNotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::ProjectNotFound,
    ErrorCode::KeyNotFound,
    ErrorCode::RoomNotFound,
    ErrorCode::RoomNameTaken,
    ErrorCode::RoomNotReady,
    ErrorCode::ParticipantNotFound,
    ErrorCode::RecordingNotFound,
    ErrorCode::SessionNotFound,
    ErrorCode::WebhookNotFound,
    ErrorCode::CapabilityNotFound,
    ErrorCode::UnknownVendor,
    ErrorCode::VendorUnavailable,
    ErrorCode::VendorMismatch,
    ErrorCode::VendorAuthFailed,
    ErrorCode::VendorTimeout,
    ErrorCode::VendorRateLimited,
    ErrorCode::VendorRejected,
    ErrorCode::GrantNotSupported,
    ErrorCode::UnsupportedByVendor,
    ErrorCode::DestinationNotConfigured,
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::ConflictingFields,
    ErrorCode::IdempotencyInProgress,
    ErrorCode::IdentityNotSupported,
    ErrorCode::RecordingUnconfirmed,
    ErrorCode::DestinationUnsupported,
    ErrorCode::DestinationNotAllowed,
    ErrorCode::DestinationNotFound,
    ErrorCode::DestinationExists,
    ErrorCode::EncryptionNotConfigured,
    ErrorCode::MessageTooLarge,
    ErrorCode::RoomNotLive,
    ErrorCode::DeadlineOutOfRange,
    ErrorCode::RateLimited,
    ErrorCode::QuotaExceeded,
    ErrorCode::ParticipantBanned,
    ErrorCode::BanNotFound,
    ErrorCode::StreamNotFound,
    ErrorCode::StreamUnconfirmed,
    ErrorCode::StreamEnded,
    ErrorCode::StreamOutputsRefused,
    ErrorCode::Internal,
    ErrorCode::StorageUnavailable,
];

#[allow(dead_code)]
fn every_variant_is_listed(code: ErrorCode) {
    use ErrorCode::*;
    match code {
        InvalidJson
        | InvalidRequest
        | UnknownField
        | PayloadTooLarge
        | UnsupportedMediaType
        | Unauthenticated
        | Forbidden
        | RouteNotFound
        | MethodNotAllowed
        | ProjectNotFound
        | KeyNotFound
        | RoomNotFound
        | RoomNameTaken
        | RoomNotReady
        | ParticipantNotFound
        | RecordingNotFound
        | SessionNotFound
        | WebhookNotFound
        | CapabilityNotFound
        | UnknownVendor
        | VendorUnavailable
        | VendorMismatch
        | VendorAuthFailed
        | VendorTimeout
        | VendorRateLimited
        | VendorRejected
        | GrantNotSupported
        | UnsupportedByVendor
        | DestinationNotConfigured
        | IdempotencyKeyReused
        | ConflictingFields
        | IdempotencyInProgress
        | IdentityNotSupported
        | RecordingUnconfirmed
        | DestinationUnsupported
        | DestinationNotAllowed
        | DestinationNotFound
        | DestinationExists
        | EncryptionNotConfigured
        | MessageTooLarge
        | RoomNotLive
        | DeadlineOutOfRange
        | RateLimited
        | QuotaExceeded
        | ParticipantBanned
        | BanNotFound
        | StreamNotFound
        | StreamUnconfirmed
        | StreamEnded
        | StreamOutputsRefused
        | Internal
        | StorageUnavailable => {}
    }
}

#[test]
fn the_error_code_enum_is_exactly_the_codes_of_the_code() {
    let doc = doc();
    let code_schema =
        resolve(&doc, &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]);
    let documented: Vec<&str> = code_schema["enum"]
        .as_array()
        .expect("the error code schema is an enum")
        .iter()
        .map(|v| v.as_str().expect("error codes are strings"))
        .collect();
    let documented_set: BTreeSet<&str> = documented.iter().copied().collect();
    assert_eq!(documented.len(), documented_set.len(), "the enum repeats a code");

    let known: BTreeSet<&str> = ALL_CODES.iter().map(|c| c.as_str()).collect();
    assert_eq!(known.len(), ALL_CODES.len(), "ALL_CODES repeats a variant");
    let unknown: Vec<_> = documented_set.difference(&known).collect();
    let undocumented: Vec<_> = known.difference(&documented_set).collect();
    assert!(
        unknown.is_empty() && undocumented.is_empty(),
        "codes the code does not know: {unknown:?}; codes not documented: {undocumented:?}"
    );

    // The enum's description names each code with its status, so a reader needs no table.
    let description = code_schema["description"].as_str().unwrap_or("");
    for code in ALL_CODES {
        let status =
            if *code == ErrorCode::VendorUnavailable { "422 or 502".to_owned() } else { code.status().to_string() };
        let named = format!("`{}` {status}", code.as_str());
        assert!(description.contains(&named), "the error code description lacks {named}");
    }
}

#[test]
fn documented_error_statuses_agree_with_the_codes() {
    // Each error response names its codes in backticks at the start of its description; the
    // status a code maps to must be the status it is documented under (VENDOR_UNAVAILABLE is
    // 422 when a vendor is not configured and 502 when it is down).
    let doc = doc();
    let by_name: std::collections::BTreeMap<&str, ErrorCode> = ALL_CODES.iter().map(|c| (c.as_str(), *c)).collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            for (status, response) in op["responses"].as_object().unwrap() {
                let status: u16 = status.parse().unwrap();
                if status < 400 {
                    continue;
                }
                let description = resolve(&doc, response)["description"].as_str().unwrap_or("");
                let head = description.split(':').next().unwrap_or("");
                let codes: Vec<&str> = head.split('`').skip(1).step_by(2).collect();
                assert!(!codes.is_empty(), "{method} {path} {status}: description names no code");
                for name in codes {
                    let code =
                        by_name.get(name).unwrap_or_else(|| panic!("{method} {path} {status}: unknown code {name}"));
                    let ok = code.status() == status || (*code == ErrorCode::VendorUnavailable && status == 502);
                    assert!(ok, "{method} {path}: {name} is HTTP {}, documented under {status}", code.status());
                }
            }
        }
    }
}

/// The cursor's form is public: the document states exactly the pattern the server reads.
#[test]
fn the_cursor_pattern_is_the_servers() {
    let doc = doc();
    let param = &doc["components"]["parameters"]["cursor"]["schema"]["pattern"];
    assert_eq!(param.as_str(), Some(format!("^$|{}", rtcgate::api::paging::CURSOR_PATTERN).as_str()));
    for list in ["RoomList", "RecordingList"] {
        let next = &doc["components"]["schemas"][list]["properties"]["next_cursor"]["pattern"];
        assert_eq!(next.as_str(), Some(rtcgate::api::paging::CURSOR_PATTERN), "{list}");
    }
}

/// A webhook `url` of the documented form is never refused as malformed: the document states
/// the pattern the server checks before its host rules (which answer 422).
#[test]
fn the_webhook_url_pattern_is_the_servers() {
    let doc = doc();
    let url = &doc["components"]["schemas"]["CreateWebhookRequest"]["properties"]["url"]["pattern"];
    assert_eq!(url.as_str(), Some(rtcgate::resources::webhooks::api::URL_PATTERN));
}

/// An ingest URL of the documented form is never refused as malformed (but for what the URL
/// parser itself refuses, such as a port past 65535): the document states the pattern the
/// server checks before its host rules (which answer 422).
#[test]
fn the_ingest_url_pattern_is_the_servers() {
    let doc = doc();
    let url = &doc["components"]["schemas"]["StreamOutputRequest"]["properties"]["url"]["pattern"];
    assert_eq!(url.as_str(), Some(rtcgate::domain::stream::INGEST_URL_PATTERN));
}

#[test]
fn discovery_documents_every_capability_the_code_has() {
    let doc = doc();
    let documented: Vec<&str> = doc["components"]["schemas"]["Discovery"]["properties"]["capability"]["enum"]
        .as_array()
        .expect("Discovery.capability is an enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let known: Vec<&str> = rtcgate::vendors::Capability::ALL.iter().map(|c| c.id()).collect();
    assert_eq!(documented, known, "Discovery.capability lists the capabilities of vendors/capability.rs, in order");
}
