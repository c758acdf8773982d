//! Which storage a project's recording may be written to, and with whose credentials.
//!
//! The deployment's shared credentials (`RECORDING_S3_*`, …) write only to the bucket of
//! `RECORDING_DEFAULT_URI` or one listed in `RECORDING_SHARED_BUCKETS`, and only under the
//! calling project's own folder there: `<the default URI's folder><project id>/`. Anything
//! else would let one tenant aim the operator's keys at any bucket or at another tenant's
//! files. A project that wants its own bucket registers it with its own credentials
//! (`recording.destination.create`); an `output_uri` inside one of those uses them.

use crate::api::settings::{Settings, SharedStorage};
use crate::crypto::sealed::SealingKey;
use crate::domain::recording::Destination;
use crate::domain::recording_destination::{self, expand_path, Location, PathNames, StorageCredentials};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;
use crate::store::destinations;

/// A `DESTINATION_NOT_ALLOWED` naming `field`.
fn not_allowed(field: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::DestinationNotAllowed, message).with_detail("field", field)
}

/// The folder part of a path template: up to its first placeholder, cut back to the last `/`.
fn folder_of(path: &str) -> &str {
    let fixed = &path[..path.find('{').unwrap_or(path.len())];
    &fixed[..fixed.rfind('/').map_or(0, |i| i + 1)]
}

/// The rules for sharing the deployment's storage (`api::settings::SharedStorage`) between
/// projects.
impl SharedStorage {
    pub fn has_default(&self) -> bool {
        self.default_uri.is_some()
    }

    /// The default URI, parsed; a malformed one is the deployment's problem.
    fn default_location(&self) -> ApiResult<Option<Location>> {
        let Some(uri) = &self.default_uri else { return Ok(None) };
        recording_destination::parse(uri, "RECORDING_DEFAULT_URI").map(Some).map_err(|e| {
            ApiError::new(
                ErrorCode::DestinationNotConfigured,
                format!("RECORDING_DEFAULT_URI is not usable: {}", e.message),
            )
        })
    }

    /// The folder all of `project_id`'s objects in shared storage lie under.
    pub fn project_prefix(&self, project_id: &str) -> ApiResult<String> {
        let base = self.default_location()?.map(|d| folder_of(&d.path).to_owned()).unwrap_or_default();
        Ok(format!("{base}{project_id}/"))
    }

    fn is_shared_bucket(&self, loc: &Location) -> ApiResult<bool> {
        let default = self.default_location()?;
        Ok(default.is_some_and(|d| d.kind == loc.kind && d.bucket == loc.bucket)
            || self.listed.iter().any(|(kind, bucket)| kind.is_none_or(|k| k == loc.kind) && *bucket == loc.bucket))
    }

    /// `project_id`'s default destination: `RECORDING_DEFAULT_URI` with the project's folder
    /// inserted after the URI's own folder (`s3://media/rtc/` → `s3://media/rtc/<project>/`).
    pub fn default_for(&self, project_id: &str) -> ApiResult<Option<Location>> {
        let Some(mut loc) = self.default_location()? else { return Ok(None) };
        let folder = folder_of(&loc.path).to_owned();
        loc.path = format!("{folder}{project_id}/{}", &loc.path[folder.len()..]);
        Ok(Some(loc))
    }

    /// Refuses a location the shared credentials must not write to for `project_id`.
    pub fn confine(&self, loc: &Location, project_id: &str, field: &str) -> ApiResult<()> {
        let prefix = self.project_prefix(project_id)?;
        if !self.is_shared_bucket(loc)? {
            return Err(not_allowed(
                field,
                format!(
                    "{field} names a bucket this deployment does not share; record under {}://…/{prefix} in a \
                     shared bucket, or register your own bucket with recording.destination.create",
                    loc.kind.scheme()
                ),
            ));
        }
        if !loc.is_under(&prefix) {
            return Err(not_allowed(
                field,
                format!(
                    "{field} must stay inside this project's folder {}://{}/{prefix}",
                    loc.kind.scheme(),
                    loc.bucket
                ),
            )
            .with_detail("allowed", format!("{}://{}/{prefix}", loc.kind.scheme(), loc.bucket)));
        }
        Ok(())
    }
}

/// The deployment's sealing key, or the 4xx saying why project destinations are unavailable.
pub fn sealing_key(settings: &Settings) -> ApiResult<&SealingKey> {
    settings.encryption_key.require("project storage destinations")
}

/// Where a recording will go, chosen before its path is expanded.
pub struct Chosen {
    location: Location,
    credentials: StorageCredentials,
    /// The folder the expanded path must stay in.
    within: String,
    field: &'static str,
}

impl Chosen {
    /// The vendor destination for one recording: the path expanded, and checked again so no
    /// expansion can leave the folder.
    pub fn for_recording(self, names: &PathNames<'_>) -> ApiResult<Destination> {
        let mut location = self.location;
        location.path = expand_path(&location.path, names);
        if !location.is_under(&self.within) {
            return Err(not_allowed(self.field, format!("{} must stay inside {}", self.field, self.within)));
        }
        recording_destination::destination(location, &self.credentials)
    }
}

/// Chooses the storage for a recording of `project_id` to `output_uri` (or the default), with
/// the credentials that may write there. Refusals name `field`; nothing is sent anywhere.
pub async fn choose(
    settings: &Settings,
    rt: &Runtime,
    project_id: &str,
    output_uri: Option<&str>,
    field: &'static str,
) -> ApiResult<Chosen> {
    let shared = &settings.shared_storage;
    let Some(uri) = output_uri else {
        let location = shared.default_for(project_id)?.ok_or_else(|| {
            ApiError::invalid_field("output_uri", "'output_uri' is required (no RECORDING_DEFAULT_URI is configured)")
        })?;
        let credentials = shared.credentials.for_kind(location.kind)?.clone();
        return Ok(Chosen { location, credentials, within: shared.project_prefix(project_id)?, field });
    };
    let location = recording_destination::parse(uri, field)?;
    // The project's own storage first: the most specific of its destinations holding the path.
    let own = destinations::in_bucket(rt, project_id, location.kind, &location.bucket).await?;
    if let Some(d) = own.into_iter().filter(|d| location.is_under(&d.prefix)).max_by_key(|d| d.prefix.len()) {
        let credentials = open(settings, project_id, &d)?;
        credentials.recheck().map_err(|e| {
            ApiError::new(
                ErrorCode::DestinationUnsupported,
                format!(
                    "destination '{}' holds credentials rtcgate no longer hands to a recorder ({}); delete it and \
                     create it again",
                    d.id, e.message
                ),
            )
            .with_detail("field", field)
            .with_detail("destination", d.id.as_str())
            .with_cause(format!("destination {} holds refused credentials: {}", d.id, e.log_text()))
        })?;
        return Ok(Chosen { location, credentials, within: d.prefix, field });
    }
    shared.confine(&location, project_id, field)?;
    let credentials = shared.credentials.for_kind(location.kind)?.clone();
    Ok(Chosen { location, credentials, within: shared.project_prefix(project_id)?, field })
}

/// A stored destination's credentials, unsealed.
fn open(settings: &Settings, project_id: &str, d: &destinations::StoredDestination) -> ApiResult<StorageCredentials> {
    let key = sealing_key(settings).map_err(|e| e.with_detail("destination", d.id.as_str()))?;
    key.open(project_id, &d.sealed_credentials)
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .and_then(|v| StorageCredentials::from_json(&v))
        .filter(|c| c.kind() == d.kind)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::DestinationNotConfigured,
                format!(
                    "the credentials of destination '{}' cannot be read with this deployment's encryption key; \
                     delete it and create it again",
                    d.id
                ),
            )
            .with_detail("destination", d.id.as_str())
            .with_cause(format!("destination {} does not open with the current encryption key", d.id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(pairs: &[(&str, &str)]) -> SharedStorage {
        let env = crate::vendors::settings_tests::env_of(pairs);
        SharedStorage::from_env(&env)
    }

    fn loc(uri: &str) -> Location {
        recording_destination::parse(uri, "output_uri").unwrap()
    }

    #[test]
    fn folders_of_templates() {
        assert_eq!(folder_of("rtc/"), "rtc/");
        assert_eq!(folder_of("rtc/{room}/x.mp4"), "rtc/");
        assert_eq!(folder_of("a/b/x.mp4"), "a/b/");
        assert_eq!(folder_of("x.mp4"), "");
        assert_eq!(folder_of(""), "");
    }

    #[test]
    fn shared_storage_is_confined_to_the_projects_folder() {
        let s = storage(&[
            ("RECORDING_DEFAULT_URI", "s3://media/rtc/{room}/"),
            ("RECORDING_SHARED_BUCKETS", "extra, gs://g, ftp://media2"),
        ]);
        assert_eq!(s.project_prefix("prj_a").unwrap(), "rtc/prj_a/");
        assert_eq!(s.default_for("prj_a").unwrap().unwrap().uri(), "s3://media/rtc/prj_a/{room}/");
        for ok in [
            "s3://media/rtc/prj_a/x.mp4",
            "s3://extra/rtc/prj_a/",
            "azure://extra/rtc/prj_a/{room}.mp4",
            "gs://g/rtc/prj_a/a",
        ] {
            s.confine(&loc(ok), "prj_a", "output_uri").unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        }
        for bad in [
            "s3://operator-backups/prod/db.dump",
            "s3://media/prod/db.dump",
            "s3://media/rtc/prj_b/x.mp4",
            "s3://media/rtc/prj_ab/x.mp4",
            "s3://media/rtc/prj_a",
            "s3://media/rtc//prj_a/x",
            "gs://media/rtc/prj_a/x",
            "s3://g/rtc/prj_a/x",
        ] {
            let e = s.confine(&loc(bad), "prj_a", "output_uri").unwrap_err();
            assert_eq!(
                (e.code, e.details["field"].as_str()),
                (ErrorCode::DestinationNotAllowed, Some("output_uri")),
                "{bad}"
            );
        }
    }

    #[test]
    fn without_a_default_only_listed_buckets_are_shared_under_the_project_id() {
        let s = storage(&[("RECORDING_SHARED_BUCKETS", "media")]);
        assert_eq!(s.project_prefix("prj_a").unwrap(), "prj_a/");
        assert!(s.default_for("prj_a").unwrap().is_none());
        s.confine(&loc("s3://media/prj_a/x.mp4"), "prj_a", "output_uri").unwrap();
        assert!(s.confine(&loc("s3://media/x.mp4"), "prj_a", "output_uri").is_err());
        let none = storage(&[]);
        assert_eq!(
            none.confine(&loc("s3://media/prj_a/x"), "prj_a", "f").unwrap_err().code,
            ErrorCode::DestinationNotAllowed
        );
    }
}
