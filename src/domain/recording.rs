//! Vendor-neutral recording types.

/// Where a recording is written, with the credentials to write there (the deployment's
/// or the project's own). `Debug` shows where, never a credential.
#[derive(Clone, PartialEq)]
pub enum Destination {
    S3 {
        bucket: String,
        path: String,
        access_key: String,
        secret: String,
        region: Option<String>,
        endpoint: Option<String>,
    },
    Gcs {
        bucket: String,
        path: String,
        credentials: String,
    },
    Azure {
        container: String,
        path: String,
        account_name: String,
        account_key: String,
    },
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HIDDEN: &str = "[redacted]";
        match self {
            Destination::S3 { bucket, path, region, endpoint, .. } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("path", path)
                .field("access_key", &HIDDEN)
                .field("secret", &HIDDEN)
                .field("region", region)
                .field("endpoint", endpoint)
                .finish(),
            Destination::Gcs { bucket, path, .. } => {
                f.debug_struct("Gcs").field("bucket", bucket).field("path", path).field("credentials", &HIDDEN).finish()
            }
            Destination::Azure { container, path, account_name, .. } => f
                .debug_struct("Azure")
                .field("container", container)
                .field("path", path)
                .field("account_name", account_name)
                .field("account_key", &HIDDEN)
                .finish(),
        }
    }
}

impl Destination {
    /// The same destination with its path rewritten.
    pub fn map_path(self, f: impl FnOnce(&str) -> String) -> Destination {
        match self {
            Destination::S3 { bucket, path, access_key, secret, region, endpoint } => {
                Destination::S3 { bucket, path: f(&path), access_key, secret, region, endpoint }
            }
            Destination::Gcs { bucket, path, credentials } => Destination::Gcs { bucket, path: f(&path), credentials },
            Destination::Azure { container, path, account_name, account_key } => {
                Destination::Azure { container, path: f(&path), account_name, account_key }
            }
        }
    }

    /// Where the file goes, as a URI without credentials.
    pub fn uri(&self) -> String {
        match self {
            Destination::S3 { bucket, path, .. } => format!("s3://{bucket}/{path}"),
            Destination::Gcs { bucket, path, .. } => format!("gs://{bucket}/{path}"),
            Destination::Azure { container, path, .. } => format!("azure://{container}/{path}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordingSpec {
    pub room_id: String,
    pub layout: String,
    pub audio_only: bool,
    pub destination: Destination,
    /// Our recording id (`rec_…`): the vendor's own deduplication key where it has one
    /// (ZEGO `ClientTaskId`), so asking again cannot start a second recording.
    pub recording_id: String,
    /// The uid the recording bot joins the room with, from the participant registry
    /// (Agora, whose bot is a channel member); `None` for vendors whose bot needs none.
    pub recorder_uid: Option<u32>,
}

impl Destination {
    /// `scheme://bucket`: what a file's path inside the bucket is appended to.
    pub fn bucket_uri(&self) -> String {
        match self {
            Destination::S3 { bucket, .. } => format!("s3://{bucket}"),
            Destination::Gcs { bucket, .. } => format!("gs://{bucket}"),
            Destination::Azure { container, .. } => format!("azure://{container}"),
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Destination::S3 { path, .. } | Destination::Gcs { path, .. } | Destination::Azure { path, .. } => path,
        }
    }
}

/// Google Cloud Storage through Agora or ZEGO needs an HMAC key pair; it is read from
/// the same `RECORDING_GCP_CREDENTIALS` JSON document, as `hmac_access_key` and
/// `hmac_secret` (LiveKit reads that document's service-account fields and ignores these).
pub fn gcs_hmac(credentials: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(credentials).ok()?;
    let key = v.get("hmac_access_key")?.as_str()?.to_owned();
    let secret = v.get("hmac_secret")?.as_str()?.to_owned();
    (!key.is_empty() && !secret.is_empty()).then_some((key, secret))
}

/// `gcs_hmac` for a vendor that cannot write to `gs://` without it, else why not.
pub fn required_gcs_hmac(vendor: &str, credentials: &str) -> crate::error::ApiResult<(String, String)> {
    gcs_hmac(credentials).ok_or_else(|| {
        destination_unsupported(
            vendor,
            format!(
                "{vendor} writes to gs:// with an HMAC key: add hmac_access_key and hmac_secret to \
                 RECORDING_GCP_CREDENTIALS"
            ),
        )
    })
}

/// Why `vendor` cannot write to a recording's destination (the request's `output_uri`).
pub fn destination_unsupported(vendor: &str, why: impl Into<String>) -> crate::error::ApiError {
    crate::error::ApiError::new(crate::error::ErrorCode::DestinationUnsupported, why)
        .with_detail("field", "output_uri")
        .with_detail("vendor", vendor)
}

/// The folder a vendor that names its files itself (Agora, ZEGO) writes into: the
/// destination's path without its extension, so it is as unique as the file path the
/// record shows (`rec/rm_1-rec_2.mp4` → `rec/rm_1-rec_2`).
pub fn folder_of(path: &str) -> String {
    let (dir, file) = path.rsplit_once('/').map_or(("", path), |(d, f)| (d, f));
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    if dir.is_empty() {
        stem.to_owned()
    } else {
        format!("{dir}/{stem}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingStatus {
    Starting,
    Active,
    Stopping,
    Complete,
    Failed,
    Aborted,
    LimitReached,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Starting => "starting",
            RecordingStatus::Active => "active",
            RecordingStatus::Stopping => "stopping",
            RecordingStatus::Complete => "complete",
            RecordingStatus::Failed => "failed",
            RecordingStatus::Aborted => "aborted",
            RecordingStatus::LimitReached => "limit_reached",
        }
    }

    pub fn parse(s: &str) -> Option<RecordingStatus> {
        [
            RecordingStatus::Starting,
            RecordingStatus::Active,
            RecordingStatus::Stopping,
            RecordingStatus::Complete,
            RecordingStatus::Failed,
            RecordingStatus::Aborted,
            RecordingStatus::LimitReached,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Finished: stopping it again is a no-op that returns this state.
    pub fn is_final(self) -> bool {
        !matches!(self, RecordingStatus::Starting | RecordingStatus::Active | RecordingStatus::Stopping)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FileResult {
    pub location: String,
    pub size_bytes: Option<u64>,
    pub duration_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordingState {
    pub vendor_recording_id: String,
    pub status: RecordingStatus,
    pub error: Option<String>,
    pub files: Vec<FileResult>,
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    /// Where the vendor writes, as a URI (`s3://bucket/path`) built from its request
    /// echo: what ties a vendor recording to our record when the start's answer was lost.
    pub output_uri: Option<String>,
}
