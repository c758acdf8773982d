//! Recording destinations: an `output_uri` (`s3://bucket/path`, `gs://bucket/path`,
//! `azure://container/path`) parsed and checked, its path expanded for one recording, and
//! joined with storage credentials into the vendor's `Destination`. Which credentials a
//! project may use where is `resources::storage`'s job; credentials never go back out in a
//! response.

use serde_json::{json, Value};

use crate::config::{setting, EnvVars};
use crate::domain::recording::Destination;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The kinds of object store a recording can be written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    S3,
    Gcs,
    Azure,
}

impl Kind {
    /// The URI scheme, which is also the name the API uses for the kind.
    pub fn scheme(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::Gcs => "gs",
            Kind::Azure => "azure",
        }
    }

    pub fn parse(scheme: &str) -> Option<Kind> {
        [Kind::S3, Kind::Gcs, Kind::Azure].into_iter().find(|k| k.scheme().eq_ignore_ascii_case(scheme))
    }
}

/// Where a recording goes, without credentials: a bucket (container) and an object path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub kind: Kind,
    pub bucket: String,
    pub path: String,
}

impl Location {
    pub fn uri(&self) -> String {
        format!("{}://{}/{}", self.kind.scheme(), self.bucket, self.path)
    }

    /// Whether the path lies under `prefix` (empty, or a folder ending in `/`).
    pub fn is_under(&self, prefix: &str) -> bool {
        self.path.starts_with(prefix) && !has_parent_segment(&self.path)
    }
}

fn has_parent_segment(path: &str) -> bool {
    path.contains("..")
}

/// Parses and checks `uri`; errors name `field`. The path is kept as written (placeholders
/// are expanded by `expand`, which knows the room, the recording and the time).
pub fn parse(uri: &str, field: &str) -> ApiResult<Location> {
    let bad = |why: &str| ApiError::invalid_field(field, format!("{field} {why}"));
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| bad("must look like s3://bucket/path, gs://bucket/path or azure://container/path"))?;
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() || !bucket.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err(bad("needs a bucket/container name of letters, digits, '-', '.', '_'"));
    }
    if has_parent_segment(path) || path.chars().any(char::is_control) {
        return Err(bad("path must not contain '..' or control characters"));
    }
    let kind =
        Kind::parse(scheme).ok_or_else(|| bad(&format!("scheme '{scheme}' is not supported; use s3, gs or azure")))?;
    Ok(Location { kind, bucket: bucket.to_owned(), path: path.to_owned() })
}

/// Credentials for one object store. `Debug` shows which store, never a secret.
#[derive(Clone, PartialEq)]
pub enum StorageCredentials {
    S3 { access_key: String, secret: String, region: Option<String>, endpoint: Option<String> },
    Gcs { credentials: String },
    Azure { account_name: String, account_key: String },
}

impl std::fmt::Debug for StorageCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageCredentials::S3 { region, endpoint, .. } => f
                .debug_struct("S3")
                .field("access_key", &"[redacted]")
                .field("secret", &"[redacted]")
                .field("region", region)
                .field("endpoint", endpoint)
                .finish(),
            StorageCredentials::Gcs { .. } => f.debug_struct("Gcs").field("credentials", &"[redacted]").finish(),
            StorageCredentials::Azure { account_name, .. } => {
                f.debug_struct("Azure").field("account_name", account_name).field("account_key", &"[redacted]").finish()
            }
        }
    }
}

impl StorageCredentials {
    pub fn kind(&self) -> Kind {
        match self {
            StorageCredentials::S3 { .. } => Kind::S3,
            StorageCredentials::Gcs { .. } => Kind::Gcs,
            StorageCredentials::Azure { .. } => Kind::Azure,
        }
    }

    /// The form that is sealed at rest.
    pub fn to_json(&self) -> Value {
        match self {
            StorageCredentials::S3 { access_key, secret, region, endpoint } => {
                json!({"kind": "s3", "access_key": access_key, "secret": secret, "region": region, "endpoint": endpoint})
            }
            StorageCredentials::Gcs { credentials } => json!({"kind": "gs", "credentials": credentials}),
            StorageCredentials::Azure { account_name, account_key } => {
                json!({"kind": "azure", "account_name": account_name, "account_key": account_key})
            }
        }
    }

    /// A project's own credentials checked again with the rules `destination.create` applies
    /// (`checked_*`), before they are handed to a recorder: a row stored before those rules,
    /// or written by other means, never reaches one. Errors name the rule broken, never a
    /// secret; the caller names the destination.
    pub fn recheck(&self) -> ApiResult<()> {
        match self {
            StorageCredentials::S3 { region, endpoint, .. } => {
                if let Some(region) = region {
                    checked_s3_region(region, "credentials.region")?;
                }
                match endpoint {
                    Some(endpoint) => checked_s3_endpoint(endpoint, "credentials.endpoint").map(drop),
                    None => Ok(()),
                }
            }
            StorageCredentials::Gcs { credentials } => {
                let doc: serde_json::Map<String, Value> = serde_json::from_str(credentials).map_err(|_| {
                    unsupported("credentials.credentials", "'credentials.credentials' is not a JSON object".into())
                })?;
                checked_gcp_key(&doc, "credentials.credentials").map(drop)
            }
            StorageCredentials::Azure { account_name, .. } => {
                checked_azure_account(account_name, "credentials.account_name")
            }
        }
    }

    pub fn from_json(v: &Value) -> Option<StorageCredentials> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match Kind::parse(v.get("kind")?.as_str()?)? {
            Kind::S3 => Some(StorageCredentials::S3 {
                access_key: s("access_key")?,
                secret: s("secret")?,
                region: s("region"),
                endpoint: s("endpoint"),
            }),
            Kind::Gcs => Some(StorageCredentials::Gcs { credentials: s("credentials")? }),
            Kind::Azure => {
                Some(StorageCredentials::Azure { account_name: s("account_name")?, account_key: s("account_key")? })
            }
        }
    }
}

/// A `DESTINATION_UNSUPPORTED` naming `field`: credentials of a form we do not hand to a
/// recorder.
fn unsupported(field: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::DestinationUnsupported, message).with_detail("field", field)
}

/// Google's own endpoints: the only ones a service-account key may name. A loader calls them
/// (the token endpoint to sign in, the others to fetch certificates), so any other URL there
/// would send the recorder's requests where the tenant chose.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_AUTH_URI: &str = "https://accounts.google.com/o/oauth2/auth";
const GOOGLE_PROVIDER_CERTS: &str = "https://www.googleapis.com/oauth2/v1/certs";
const GOOGLE_CLIENT_CERTS: &str = "https://www.googleapis.com/robot/v1/metadata/x509/";
const GOOGLE_UNIVERSE: &str = "googleapis.com";

/// The fields of a Google service-account key file, plus the HMAC pair Agora and ZEGO write
/// with (`vendors::gcs_hmac`). Anything else (a `credential_source`, a `token_url`, an
/// impersonation URL, …) belongs to another credential type or to nothing a recorder needs.
const SERVICE_ACCOUNT_FIELDS: [&str; 13] = [
    "type",
    "project_id",
    "private_key_id",
    "private_key",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
    "hmac_access_key",
    "hmac_secret",
];

/// A project's own GCP key, checked, as the JSON text to seal and hand to the recorder.
///
/// Only a `service_account` key is taken: LiveKit's recorder loads any Google credential
/// type, and an `external_account` one makes it read a local file or the metadata address and
/// post what it read to a URL of the tenant's choosing. Every field must be one of a key
/// file's, every value a string, `token_uri` must be Google's token endpoint (required: what
/// the loader calls is then written in the document, not left to a loader's default), and the
/// other URLs, when present, Google's own. The text returned is our serialization of the
/// checked fields, never the tenant's text (where a second `"type"` could mean something else
/// to another parser).
pub fn checked_gcp_key(doc: &serde_json::Map<String, Value>, field: &str) -> ApiResult<String> {
    let refuse = |why: String| unsupported(field, format!("'{field}' {why}"));
    if doc.get("type").and_then(Value::as_str) != Some("service_account") {
        return Err(refuse(
            "must be a Google service-account key (\"type\": \"service_account\"); other credential types are not accepted"
                .into(),
        ));
    }
    for (name, value) in doc {
        if !SERVICE_ACCOUNT_FIELDS.contains(&name.as_str()) {
            return Err(refuse(format!("has '{name}', which is not a field of a service-account key")));
        }
        if !value.is_string() {
            return Err(refuse(format!("'{name}' must be a string")));
        }
    }
    let text = |name: &str| doc.get(name).and_then(Value::as_str);
    for required in ["private_key", "client_email", "token_uri"] {
        if text(required).is_none_or(str::is_empty) {
            return Err(refuse(format!("needs '{required}'")));
        }
    }
    if text("token_uri") != Some(GOOGLE_TOKEN_URI) {
        return Err(refuse(format!("'token_uri' must be {GOOGLE_TOKEN_URI}")));
    }
    for (name, google) in [("auth_uri", GOOGLE_AUTH_URI), ("auth_provider_x509_cert_url", GOOGLE_PROVIDER_CERTS)] {
        if text(name).is_some_and(|v| v != google) {
            return Err(refuse(format!("'{name}' must be {google}")));
        }
    }
    // The client's certificates: Google's URL for this account, its email percent-encoded.
    if let Some(url) = text("client_x509_cert_url") {
        let account = url.strip_prefix(GOOGLE_CLIENT_CERTS).unwrap_or("");
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric() || b"%._-@".contains(&b)) {
            return Err(refuse(format!("'client_x509_cert_url' must be {GOOGLE_CLIENT_CERTS}<the account's email>")));
        }
    }
    // The universe domain chooses the hosts a loader signs in at and uploads to.
    if text("universe_domain").is_some_and(|v| v != GOOGLE_UNIVERSE) {
        return Err(refuse(format!("'universe_domain' must be {GOOGLE_UNIVERSE}")));
    }
    Ok(Value::Object(doc.clone()).to_string())
}

/// A project's own S3-compatible endpoint, as the URL to hand to the recorder: https, and a
/// host that is not loopback, private, link-local or otherwise internal however it is
/// spelled (`net_policy`). A malformed URL is `INVALID_REQUEST`; a well-formed one we will not
/// call is `DESTINATION_UNSUPPORTED`. The parsed URL is returned (without a trailing `/`), so
/// the recorder calls the host that was checked.
pub fn checked_s3_endpoint(raw: &str, field: &str) -> ApiResult<String> {
    use crate::domain::net_policy::{self, Reach, Refusal};
    let url = match net_policy::parse_http_url(raw) {
        Ok(url) => url,
        Err(Refusal::Scheme) => return Err(unsupported(field, format!("'{field}' must be an https:// URL"))),
        Err(refusal) => return Err(ApiError::invalid_field(field, format!("'{field}' {}", refusal.why()))),
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ApiError::invalid_field(field, format!("'{field}' must not have a query or a fragment")));
    }
    if net_policy::url_reach(&url) != Reach::Public {
        return Err(unsupported(
            field,
            format!("'{field}' must not point at a loopback, private, link-local or otherwise internal address"),
        ));
    }
    if url.scheme() != "https" {
        return Err(unsupported(field, format!("'{field}' must be an https:// URL")));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An S3 region: letters, digits, `-` and `_`. SDKs build the endpoint's host from it when no
/// endpoint is given, so a dot, `@` or `/` there could name another host.
pub fn checked_s3_region(region: &str, field: &str) -> ApiResult<()> {
    if region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(());
    }
    Err(unsupported(field, format!("'{field}' must be letters, digits, '-' and '_' (a region name, not a host)")))
}

/// An Azure storage account name: 3–24 lowercase letters and digits (Azure's own rule). The
/// recorder calls `<account>.blob.core.windows.net`, so anything else could name another host.
pub fn checked_azure_account(name: &str, field: &str) -> ApiResult<()> {
    if (3..=24).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Ok(());
    }
    Err(unsupported(field, format!("'{field}' must be 3 to 24 lowercase letters and digits")))
}

/// The vendor's destination: `location` written with `credentials` (of the same kind).
pub fn destination(location: Location, credentials: &StorageCredentials) -> ApiResult<Destination> {
    let Location { bucket, path, .. } = location;
    Ok(match credentials.clone() {
        StorageCredentials::S3 { access_key, secret, region, endpoint } if location.kind == Kind::S3 => {
            Destination::S3 { bucket, path, access_key, secret, region, endpoint }
        }
        StorageCredentials::Gcs { credentials } if location.kind == Kind::Gcs => {
            Destination::Gcs { bucket, path, credentials }
        }
        StorageCredentials::Azure { account_name, account_key } if location.kind == Kind::Azure => {
            Destination::Azure { container: bucket, path, account_name, account_key }
        }
        other => {
            return Err(ApiError::internal(format!(
                "{:?} credentials for a {:?} location",
                other.kind(),
                location.kind
            )))
        }
    })
}

/// The deployment's own storage credentials (`RECORDING_S3_*`, `RECORDING_GCP_*`,
/// `RECORDING_AZURE_*`), one set per kind of store.
#[derive(Clone, Default)]
pub struct SharedCredentials {
    s3: Option<StorageCredentials>,
    gcs: Option<StorageCredentials>,
    azure: Option<StorageCredentials>,
}

impl SharedCredentials {
    pub fn from_env(env: EnvVars<'_>) -> SharedCredentials {
        let s3 = match (setting(env, "RECORDING_S3_ACCESS_KEY"), setting(env, "RECORDING_S3_SECRET")) {
            (Some(access_key), Some(secret)) => Some(StorageCredentials::S3 {
                access_key,
                secret,
                region: setting(env, "RECORDING_S3_REGION"),
                endpoint: setting(env, "RECORDING_S3_ENDPOINT"),
            }),
            _ => None,
        };
        let gcs = setting(env, "RECORDING_GCP_CREDENTIALS").map(|credentials| StorageCredentials::Gcs { credentials });
        let azure = match (setting(env, "RECORDING_AZURE_ACCOUNT_NAME"), setting(env, "RECORDING_AZURE_ACCOUNT_KEY")) {
            (Some(account_name), Some(account_key)) => Some(StorageCredentials::Azure { account_name, account_key }),
            _ => None,
        };
        SharedCredentials { s3, gcs, azure }
    }

    /// The credentials for `kind`, or `DESTINATION_NOT_CONFIGURED` naming what to set.
    pub fn for_kind(&self, kind: Kind) -> ApiResult<&StorageCredentials> {
        let (creds, needs) = match kind {
            Kind::S3 => (&self.s3, "RECORDING_S3_ACCESS_KEY and RECORDING_S3_SECRET"),
            Kind::Gcs => (&self.gcs, "RECORDING_GCP_CREDENTIALS"),
            Kind::Azure => (&self.azure, "RECORDING_AZURE_ACCOUNT_NAME and RECORDING_AZURE_ACCOUNT_KEY"),
        };
        creds.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::DestinationNotConfigured,
                format!("{}:// destinations need {needs} set as Worker secrets", kind.scheme()),
            )
            .with_detail("field", "output_uri")
        })
    }
}

/// What placeholders in a destination path stand for.
pub struct PathNames<'a> {
    pub room_id: &'a str,
    /// The recording's id; None for a room's automatic recording, which has no record.
    pub recording_id: Option<&'a str>,
    pub unix_ms: u64,
    pub ext: &'a str,
}

/// Expands `{room}`, `{recording}` and `{time}` (UTC, `YYYYMMDDTHHMMSSZ`) in a path.
///
/// Every path is unique per recording, because the vendor recording writing to a path is how
/// a start whose answer was lost is found again, and two recordings must never write one file:
/// a folder (empty or ending in `/`) gets the file `{room}-{recording}.{ext}`, and a file path
/// without `{recording}` gets `-{recording}` before its extension (`rec/{room}.mp4` →
/// `rec/{room}-{recording}.mp4`). A room's automatic recording (one per room) has `{room}`
/// in the same way and `{time}` in a folder's file name.
pub fn expand_path(path: &str, names: &PathNames<'_>) -> String {
    let stamp: String = crate::time::rfc3339(names.unix_ms).chars().filter(|c| *c != '-' && *c != ':').collect();
    let (file, unique) =
        if names.recording_id.is_some() { ("{room}-{recording}", "{recording}") } else { ("{room}-{time}", "{room}") };
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}{file}.{}", names.ext)
    } else {
        with_placeholder(path, unique)
    };
    path.replace("{room}", names.room_id)
        .replace("{recording}", names.recording_id.unwrap_or(""))
        .replace("{time}", &stamp)
}

/// `path` if it has `placeholder`, else `path` with `-placeholder` before its file's extension.
fn with_placeholder(path: &str, placeholder: &str) -> String {
    if path.contains(placeholder) {
        return path.to_owned();
    }
    let file_start = path.rfind('/').map_or(0, |i| i + 1);
    match path[file_start..].rfind('.').filter(|dot| *dot > 0) {
        Some(dot) => format!("{}-{placeholder}{}", &path[..file_start + dot], &path[file_start + dot..]),
        None => format!("{path}-{placeholder}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_into_locations() {
        assert_eq!(
            parse("S3://my-bucket/rec/{room}.mp4", "output_uri").unwrap(),
            Location { kind: Kind::S3, bucket: "my-bucket".into(), path: "rec/{room}.mp4".into() }
        );
        assert_eq!(parse("gs://b", "output_uri").unwrap().uri(), "gs://b/");
        for bad in ["ftp://b/p", "b/p", "s3:///p", "s3://b/../x", "s3://b a/p", "s3://b/a\nb"] {
            let e = parse(bad, "uri").unwrap_err();
            assert_eq!((e.code, e.details["field"].as_str()), (ErrorCode::InvalidRequest, Some("uri")), "{bad}");
        }
    }

    #[test]
    fn shared_credentials_come_from_the_environment() {
        let creds = SharedCredentials::from_env(&|n: &str| match n {
            "RECORDING_S3_ACCESS_KEY" => Some("AK".into()),
            "RECORDING_S3_SECRET" => Some("SK".into()),
            "RECORDING_S3_REGION" => Some("eu-west-1".into()),
            _ => None,
        });
        let s3 = creds.for_kind(Kind::S3).unwrap();
        let loc = parse("s3://b/p.mp4", "output_uri").unwrap();
        match destination(loc, s3).unwrap() {
            Destination::S3 { bucket, path, access_key, region, endpoint, .. } => {
                assert_eq!((bucket.as_str(), path.as_str(), access_key.as_str()), ("b", "p.mp4", "AK"));
                assert_eq!((region.as_deref(), endpoint), (Some("eu-west-1"), None));
            }
            other => panic!("{other:?}"),
        }
        for kind in [Kind::Gcs, Kind::Azure] {
            assert_eq!(creds.for_kind(kind).unwrap_err().code, ErrorCode::DestinationNotConfigured);
        }
    }

    #[test]
    fn credentials_round_trip_and_never_show_in_debug() {
        let all = [
            StorageCredentials::S3 {
                access_key: "AKIA-SECRET-ID".into(),
                secret: "s3-top-secret".into(),
                region: Some("eu-west-1".into()),
                endpoint: None,
            },
            StorageCredentials::Gcs { credentials: "{\"private_key\":\"gcp-top-secret\"}".into() },
            StorageCredentials::Azure { account_name: "acct".into(), account_key: "azure-top-secret".into() },
        ];
        for creds in all {
            assert_eq!(StorageCredentials::from_json(&creds.to_json()).as_ref(), Some(&creds));
            let shown = format!("{creds:?}");
            assert!(!shown.contains("SECRET") && !shown.contains("top-secret"), "{shown}");
        }
    }

    fn key_file() -> serde_json::Map<String, Value> {
        let v = json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "0f1e",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
            "client_email": "r@p.iam.gserviceaccount.com",
            "client_id": "1045",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/r%40p.iam.gserviceaccount.com",
            "universe_domain": "googleapis.com",
            "hmac_access_key": "GOOG1",
            "hmac_secret": "hs"
        });
        v.as_object().unwrap().clone()
    }

    #[test]
    fn only_service_account_keys_naming_google_are_taken() {
        let field = "credentials.credentials";
        let text = checked_gcp_key(&key_file(), field).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), Value::Object(key_file()));
        let changed = |name: &str, value: Value| {
            let mut doc = key_file();
            if value.is_null() {
                doc.remove(name);
            } else {
                doc.insert(name.into(), value);
            }
            checked_gcp_key(&doc, field)
        };
        for optional in ["project_id", "auth_uri", "client_x509_cert_url", "universe_domain", "hmac_secret"] {
            assert!(changed(optional, Value::Null).is_ok(), "{optional}");
        }
        for (name, value) in [
            ("type", json!("external_account")),
            ("type", json!("authorized_user")),
            ("type", json!(null)),
            ("type", json!(["service_account"])),
            ("token_uri", json!(null)),
            ("token_uri", json!("https://oauth2.googleapis.com/token?x")),
            ("token_uri", json!("http://oauth2.googleapis.com/token")),
            ("auth_uri", json!("https://169.254.169.254/")),
            ("auth_provider_x509_cert_url", json!("https://attacker.example/certs")),
            ("client_x509_cert_url", json!("https://www.googleapis.com/robot/v1/metadata/x509/")),
            ("client_x509_cert_url", json!("https://www.googleapis.com/robot/v1/metadata/x509/a/../../../x?y")),
            ("universe_domain", json!("attacker.example")),
            ("credential_source", json!({"file": "/proc/self/environ"})),
            ("token_url", json!("https://attacker.example/")),
            ("project_id", json!(7)),
            ("private_key", json!("")),
            ("client_email", json!(null)),
        ] {
            let e = changed(name, value.clone()).unwrap_err();
            assert_eq!(
                (e.code, e.status(), e.details["field"].as_str()),
                (ErrorCode::DestinationUnsupported, 422, Some(field))
            );
            assert!(!e.message.contains("BEGIN PRIVATE KEY") && !e.message.contains("hs"), "{name}: {}", e.message);
        }
    }

    #[test]
    fn s3_endpoints_must_be_public_https() {
        let f = "credentials.endpoint";
        assert_eq!(checked_s3_endpoint("https://s3.example.com", f).unwrap(), "https://s3.example.com");
        assert_eq!(
            checked_s3_endpoint("https://minio.example.com:9000/", f).unwrap(),
            "https://minio.example.com:9000"
        );
        assert_eq!(checked_s3_endpoint("HTTPS://S3.Example.com/base/", f).unwrap(), "https://s3.example.com/base");
        for refused in [
            "http://s3.example.com",
            "ftp://s3.example.com",
            "https://127.0.0.1",
            "https://0x7f.1",
            "https://2130706433",
            "https://localhost:9000",
            "https://10.0.0.5",
            "https://169.254.169.254",
            "https://100.64.0.1",
            "https://[::1]",
            "https://[::ffff:10.0.0.5]",
            "https://[64:ff9b::a9fe:a9fe]",
            "https://[fe80::1]",
            "https://[fc00::1]",
            "https://[ff02::1]",
            "http://169.254.169.254",
        ] {
            let e = checked_s3_endpoint(refused, f).unwrap_err();
            assert_eq!(
                (e.code, e.details["field"].as_str()),
                (ErrorCode::DestinationUnsupported, Some(f)),
                "{refused}"
            );
        }
        for malformed in [
            "s3.example.com",
            "https://u:p@s3.example.com",
            "https://s3.example.com/?x",
            "https://s3.example.com/#x",
            "https://a b",
        ] {
            let e = checked_s3_endpoint(malformed, f).unwrap_err();
            assert_eq!((e.code, e.details["field"].as_str()), (ErrorCode::InvalidRequest, Some(f)), "{malformed}");
        }
    }

    #[test]
    fn azure_accounts_and_s3_regions_cannot_name_hosts() {
        for ok in ["abc", "acme", "acmemedia2024storage01x", "a1b2c3d4e5f6g7h8i9j0k1l2"] {
            assert!(checked_azure_account(ok, "n").is_ok(), "{ok}");
        }
        for bad in ["ab", "a1b2c3d4e5f6g7h8i9j0k1l2m", "Acme", "acme-media", "acme.evil.example", "acme/x", "acmé1"] {
            assert_eq!(checked_azure_account(bad, "n").unwrap_err().code, ErrorCode::DestinationUnsupported, "{bad}");
        }
        for ok in ["us-east-1", "eu-west-2", "auto", "my_region"] {
            assert!(checked_s3_region(ok, "r").is_ok(), "{ok}");
        }
        for bad in ["us-east-1.attacker.example", "x@169.254.169.254", "a/b", "a b", "a#"] {
            assert_eq!(checked_s3_region(bad, "r").unwrap_err().code, ErrorCode::DestinationUnsupported, "{bad}");
        }
    }

    #[test]
    fn placeholders_expand() {
        let names = |recording_id, unix_ms, ext| PathNames { room_id: "rm_1", recording_id, unix_ms, ext };
        assert_eq!(
            expand_path("r/{room}/{time}.mp4", &names(None, 1_700_000_000_000, "mp4")),
            "r/rm_1/20231114T221320Z.mp4"
        );
        assert_eq!(expand_path("r/{recording}.mp4", &names(Some("rec_9"), 0, "mp4")), "r/rec_9.mp4");
        assert_eq!(expand_path("r/", &names(Some("rec_9"), 0, "ogg")), "r/rm_1-rec_9.ogg");
        assert_eq!(expand_path("r/", &names(None, 0, "ogg")), "r/rm_1-19700101T000000Z.ogg");
        assert_eq!(expand_path("", &names(None, 0, "mp4")), "rm_1-19700101T000000Z.mp4");
    }

    #[test]
    fn every_recording_gets_its_own_path_even_without_the_placeholder() {
        let names = |recording_id| PathNames { room_id: "rm_1", recording_id, unix_ms: 0, ext: "mp4" };
        assert_eq!(expand_path("r/{room}.mp4", &names(Some("rec_9"))), "r/rm_1-rec_9.mp4");
        assert_eq!(expand_path("r.d/take", &names(Some("rec_9"))), "r.d/take-rec_9");
        assert_eq!(expand_path("r/.hidden", &names(Some("rec_9"))), "r/.hidden-rec_9");
        assert_ne!(expand_path("same.mp4", &names(Some("rec_1"))), expand_path("same.mp4", &names(Some("rec_2"))));
        // A room's own recording is unique per room.
        assert_eq!(expand_path("auto/all.mp4", &names(None)), "auto/all-rm_1.mp4");
    }
}
