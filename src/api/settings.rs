//! The deployment's settings, read from its environment once per isolate: plain data, each
//! part documented with its variables. The rules that use a part live with their user (the
//! storage confinement in `resources::storage`, the retry schedule in
//! `resources::webhooks`, the retention cutoffs in `app::maintenance`).

use crate::api::limits::Limits;
use crate::config::{setting, EnvVars};
use crate::crypto::sealed::EncryptionKey;
use crate::domain::events;
use crate::domain::recording_destination::{Kind, SharedCredentials};

/// Deployment settings that are not a vendor's.
pub struct Settings {
    /// Guards the admin routes; admin is disabled when unset.
    pub admin_token: Option<String>,
    /// The deployment's recording storage and how projects share it.
    pub shared_storage: SharedStorage,
    /// Seals projects' storage credentials at rest (`RTCGATE_ENCRYPTION_KEY`).
    pub encryption_key: EncryptionKey,
    /// The per-call vendor timeout (`VENDOR_TIMEOUT_MS`).
    pub vendor_timeout_ms: u64,
    /// The secrets that authenticate vendor webhooks.
    pub events: events::Settings,
    /// Outbound webhook delivery.
    pub webhooks: WebhookSettings,
    /// The per-key rate limit and the per-project quotas.
    pub limits: Limits,
    /// The scheduled job: retention windows.
    pub maintenance: RetentionSettings,
}

impl Settings {
    /// How long after a start whose answer was lost its absence at the vendor still means
    /// "not yet" rather than "never": twice the call timeout.
    pub fn confirm_grace_ms(&self) -> u64 {
        2 * self.vendor_timeout_ms
    }
}

impl Settings {
    pub fn from_env(env: EnvVars<'_>) -> Settings {
        Settings {
            admin_token: setting(env, "ADMIN_TOKEN"),
            shared_storage: SharedStorage::from_env(env),
            encryption_key: EncryptionKey::from_setting(setting(env, "RTCGATE_ENCRYPTION_KEY").as_deref()),
            vendor_timeout_ms: crate::vendors::transport::timeout_from_env(env),
            events: events::Settings::from_env(env),
            webhooks: WebhookSettings::from_env(env),
            limits: Limits::from_env(env),
            maintenance: RetentionSettings::from_env(env),
        }
    }
}

/// The deployment's storage; the rules for sharing it between projects are in
/// `resources::storage`.
#[derive(Default)]
pub struct SharedStorage {
    pub credentials: SharedCredentials,
    pub(crate) default_uri: Option<String>,
    /// Buckets besides the default's, each for one scheme or (`None`) any.
    pub(crate) listed: Vec<(Option<Kind>, String)>,
}

impl SharedStorage {
    pub fn from_env(env: EnvVars<'_>) -> SharedStorage {
        let listed = setting(env, "RECORDING_SHARED_BUCKETS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            // An entry with an unknown scheme shares nothing.
            .filter_map(|b| match b.split_once("://") {
                Some((scheme, bucket)) => Some((Some(Kind::parse(scheme)?), bucket.trim_end_matches('/').to_owned())),
                None => Some((None, b.to_owned())),
            })
            .collect();
        SharedStorage {
            credentials: SharedCredentials::from_env(env),
            default_uri: setting(env, "RECORDING_DEFAULT_URI"),
            listed,
        }
    }
}

/// Delivery settings of a deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookSettings {
    /// Attempts per delivery before it is dead-lettered (`WEBHOOK_MAX_ATTEMPTS`, default 8).
    pub max_attempts: u32,
    /// The wait before the first retry; each later one doubles it (`WEBHOOK_RETRY_BASE_S`,
    /// default 30: 30 s, 1 min, 2 min … about 1 h before the eighth attempt).
    pub retry_base_s: u32,
    /// Per-attempt timeout (`WEBHOOK_TIMEOUT_MS`, default 10000).
    pub timeout_ms: u64,
    /// `WEBHOOK_ALLOW_HTTP_LOOPBACK=1` (local development only): endpoints may be plain http
    /// on a loopback address.
    pub allow_http_loopback: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings { max_attempts: 8, retry_base_s: 30, timeout_ms: 10_000, allow_http_loopback: false }
    }
}

impl WebhookSettings {
    pub fn from_env(env: EnvVars<'_>) -> WebhookSettings {
        let d = WebhookSettings::default();
        let num = |name: &str| setting(env, name).and_then(|v| v.trim().parse::<u64>().ok());
        WebhookSettings {
            max_attempts: num("WEBHOOK_MAX_ATTEMPTS").map_or(d.max_attempts, |n| n.clamp(1, 50) as u32),
            retry_base_s: num("WEBHOOK_RETRY_BASE_S").map_or(d.retry_base_s, |n| n.clamp(1, 3600) as u32),
            timeout_ms: num("WEBHOOK_TIMEOUT_MS").map_or(d.timeout_ms, |n| n.clamp(100, 60_000)),
            allow_http_loopback: setting(env, "WEBHOOK_ALLOW_HTTP_LOOPBACK")
                .is_some_and(|v| matches!(v.trim(), "1" | "true")),
        }
    }
}

/// The job's settings (`RETENTION_DAYS`, `SESSION_RETENTION_DAYS`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionSettings {
    /// Events and webhook deliveries are kept this many days (0: forever).
    pub retention_days: u32,
    /// Finished participant sessions (what usage sums) are kept this many days (0: forever).
    pub session_retention_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { retention_days: 30, session_retention_days: 400 }
    }
}

impl RetentionSettings {
    pub fn from_env(env: EnvVars<'_>) -> RetentionSettings {
        let d = RetentionSettings::default();
        // At most ten years; anything that is not a whole number keeps the default.
        let days = |name: &str, default: u32| {
            setting(env, name).and_then(|v| v.parse::<u32>().ok()).map_or(default, |n| n.min(3650))
        };
        RetentionSettings {
            retention_days: days("RETENTION_DAYS", d.retention_days),
            session_retention_days: days("SESSION_RETENTION_DAYS", d.session_retention_days),
        }
    }
}
