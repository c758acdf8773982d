//! Recording destinations: an `output_uri` (`s3://bucket/path`, `gs://bucket/path`,
//! `azure://container/path`) parsed and checked, its path expanded for one recording, and
//! joined with storage credentials into the vendor's `Destination`. Which credentials a
//! project may use where is `storage_policy`'s job; credentials never go back out in a
//! response.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::vendors::recording::Destination;
use crate::vendors::{setting, EnvVars};

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
