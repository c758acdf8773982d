//! Recording destinations: an `output_uri` (`s3://bucket/path`, `gs://bucket/path`,
//! `azure://container/path`) joined with the storage credentials held in Worker secrets.
//! Credentials never come from a request and never go back out in a response.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::vendors::recording::Destination;
use crate::vendors::{setting, EnvVars};

#[derive(Clone, Default)]
pub struct Credentials {
    s3_access_key: Option<String>,
    s3_secret: Option<String>,
    s3_region: Option<String>,
    s3_endpoint: Option<String>,
    gcp_credentials: Option<String>,
    azure_account_name: Option<String>,
    azure_account_key: Option<String>,
}

impl Credentials {
    pub fn from_env(env: EnvVars<'_>) -> Credentials {
        Credentials {
            s3_access_key: setting(env, "RECORDING_S3_ACCESS_KEY"),
            s3_secret: setting(env, "RECORDING_S3_SECRET"),
            s3_region: setting(env, "RECORDING_S3_REGION"),
            s3_endpoint: setting(env, "RECORDING_S3_ENDPOINT"),
            gcp_credentials: setting(env, "RECORDING_GCP_CREDENTIALS"),
            azure_account_name: setting(env, "RECORDING_AZURE_ACCOUNT_NAME"),
            azure_account_key: setting(env, "RECORDING_AZURE_ACCOUNT_KEY"),
        }
    }
}

fn not_configured(scheme: &str, needs: &str) -> ApiError {
    ApiError::new(
        ErrorCode::DestinationNotConfigured,
        format!("{scheme}:// destinations need {needs} set as Worker secrets"),
    )
    .with_detail("field", "output_uri")
}

/// What placeholders in a destination path stand for.
pub struct PathNames<'a> {
    pub room_id: &'a str,
    /// The recording's id; None for a room's automatic recording, which has no record.
    pub recording_id: Option<&'a str>,
    pub unix_ms: u64,
    pub ext: &'a str,
}

/// Expands `{room}`, `{recording}` and `{time}` (UTC, `YYYYMMDDTHHMMSSZ`) in a path. A folder
/// (empty or ending in `/`) gets a file named `{room}-{recording}.{ext}` — unique per
/// recording, so a file path identifies its recording — or `{room}-{time}.{ext}` for a room's
/// automatic recording.
pub fn expand_path(path: &str, names: &PathNames<'_>) -> String {
    let stamp: String = crate::time::rfc3339(names.unix_ms).chars().filter(|c| *c != '-' && *c != ':').collect();
    let file = if names.recording_id.is_some() { "{room}-{recording}" } else { "{room}-{time}" };
    let path =
        if path.is_empty() || path.ends_with('/') { format!("{path}{file}.{}", names.ext) } else { path.to_owned() };
    path.replace("{room}", names.room_id)
        .replace("{recording}", names.recording_id.unwrap_or(""))
        .replace("{time}", &stamp)
}

/// `destination` with its path expanded for `names`.
pub fn for_recording(destination: Destination, names: &PathNames<'_>) -> Destination {
    destination.map_path(|p| expand_path(p, names))
}

/// Parses and checks `uri`, attaching credentials. The path is kept as written (placeholders
/// are expanded by the caller, which knows the room and the time).
pub fn resolve(uri: &str, creds: &Credentials) -> ApiResult<Destination> {
    let bad = |why: &str| ApiError::invalid_field("output_uri", format!("output_uri {why}"));
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| bad("must look like s3://bucket/path, gs://bucket/path or azure://container/path"))?;
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() || !bucket.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err(bad("needs a bucket/container name of letters, digits, '-', '.', '_'"));
    }
    if path.contains("..") || path.chars().any(char::is_control) {
        return Err(bad("path must not contain '..' or control characters"));
    }
    let (bucket, path) = (bucket.to_owned(), path.to_owned());
    match scheme.to_ascii_lowercase().as_str() {
        "s3" => match (&creds.s3_access_key, &creds.s3_secret) {
            (Some(access_key), Some(secret)) => Ok(Destination::S3 {
                bucket,
                path,
                access_key: access_key.clone(),
                secret: secret.clone(),
                region: creds.s3_region.clone(),
                endpoint: creds.s3_endpoint.clone(),
            }),
            _ => Err(not_configured("s3", "RECORDING_S3_ACCESS_KEY and RECORDING_S3_SECRET")),
        },
        "gs" => match &creds.gcp_credentials {
            Some(credentials) => Ok(Destination::Gcs { bucket, path, credentials: credentials.clone() }),
            None => Err(not_configured("gs", "RECORDING_GCP_CREDENTIALS")),
        },
        "azure" => match (&creds.azure_account_name, &creds.azure_account_key) {
            (Some(name), Some(key)) => {
                Ok(Destination::Azure { container: bucket, path, account_name: name.clone(), account_key: key.clone() })
            }
            _ => Err(not_configured("azure", "RECORDING_AZURE_ACCOUNT_NAME and RECORDING_AZURE_ACCOUNT_KEY")),
        },
        other => Err(bad(&format!("scheme '{other}' is not supported; use s3, gs or azure"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::from_env(&|n: &str| match n {
            "RECORDING_S3_ACCESS_KEY" => Some("AK".into()),
            "RECORDING_S3_SECRET" => Some("SK".into()),
            "RECORDING_S3_REGION" => Some("eu-west-1".into()),
            _ => None,
        })
    }

    #[test]
    fn s3_resolves_with_credentials() {
        match resolve("s3://my-bucket/rec/{room}.mp4", &creds()).unwrap() {
            Destination::S3 { bucket, path, access_key, region, endpoint, .. } => {
                assert_eq!(
                    (bucket.as_str(), path.as_str(), access_key.as_str()),
                    ("my-bucket", "rec/{room}.mp4", "AK")
                );
                assert_eq!((region.as_deref(), endpoint), (Some("eu-west-1"), None));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unconfigured_and_malformed_destinations_are_refused() {
        assert_eq!(resolve("gs://b/p", &creds()).unwrap_err().code, ErrorCode::DestinationNotConfigured);
        assert_eq!(resolve("azure://c/p", &creds()).unwrap_err().code, ErrorCode::DestinationNotConfigured);
        for bad in ["ftp://b/p", "b/p", "s3:///p", "s3://b/../x", "s3://b a/p"] {
            let e = resolve(bad, &creds()).unwrap_err();
            assert_eq!((e.code, e.details["field"].as_str()), (ErrorCode::InvalidRequest, Some("output_uri")), "{bad}");
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
}
