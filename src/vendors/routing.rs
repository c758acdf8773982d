//! Which vendor serves a call. New rooms go to the first vendor in `RTC_VENDOR_ORDER` that is
//! configured, supports the capability and is healthy; an explicit `vendor` pins one. Calls
//! about an existing room always go to the room's vendor.
//!
//! Health is a circuit breaker per vendor: `BREAKER_THRESHOLD` consecutive outage failures
//! (timeouts, unreachable, 5xx) open it for the cool-down, during which unpinned traffic
//! skips the vendor. The state lives in isolate memory; an opening is also published to KV
//! so other isolates skip the vendor too — eventual consistency is harmless here.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::config::{setting, EnvVars};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;
use crate::vendors::{self, Capability, Vendor, VendorEntry, VendorError, VendorState};

/// The deployment's vendors, the order new rooms try them in, and each one's breaker: all a
/// routing decision reads, built once per isolate.
pub struct VendorRouter {
    /// Every vendor rtcgate knows, configured or not, in listing order.
    pub entries: Vec<VendorEntry>,
    /// Vendor names in routing order for new rooms (`RTC_VENDOR_ORDER`).
    pub order: Vec<String>,
    pub breakers: Breakers,
}

pub const DEFAULT_VENDOR_ORDER: &str = "livekit,agora,zego";

impl VendorRouter {
    pub fn from_env(env: EnvVars<'_>) -> VendorRouter {
        let breakers = Breakers::default();
        if let Some(ms) = setting(env, "VENDOR_COOLDOWN_MS").and_then(|v| v.parse().ok()) {
            breakers.cooldown_ms.set(ms);
        }
        VendorRouter {
            entries: vendors::registry(env),
            order: setting(env, "RTC_VENDOR_ORDER")
                .unwrap_or_else(|| DEFAULT_VENDOR_ORDER.to_owned())
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            breakers,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, VendorEntry> {
        self.entries.iter()
    }
}

impl<'a> IntoIterator for &'a VendorRouter {
    type Item = &'a VendorEntry;
    type IntoIter = std::slice::Iter<'a, VendorEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

pub const BREAKER_THRESHOLD: u32 = 3;
pub const DEFAULT_COOLDOWN_MS: u64 = 30_000;

#[derive(Default, Clone, Copy, Debug)]
struct Breaker {
    consecutive_failures: u32,
    open_until_ms: u64,
}

#[derive(Default)]
pub struct Breakers {
    state: RefCell<HashMap<&'static str, Breaker>>,
    /// Set from `VENDOR_COOLDOWN_MS`; 0 means the default.
    pub cooldown_ms: std::cell::Cell<u64>,
}

fn kv_key(vendor: &str) -> String {
    format!("breaker:{vendor}")
}

impl Breakers {
    fn cooldown(&self) -> u64 {
        match self.cooldown_ms.get() {
            0 => DEFAULT_COOLDOWN_MS,
            ms => ms,
        }
    }

    pub fn is_open(&self, vendor: &str, now_ms: u64) -> bool {
        self.state.borrow().get(vendor).is_some_and(|b| b.open_until_ms > now_ms)
    }

    /// Counts one call's outcome; returns true when this failure opened the breaker.
    pub fn record(&self, vendor: &'static str, outage: bool, now_ms: u64) -> bool {
        let mut state = self.state.borrow_mut();
        let b = state.entry(vendor).or_default();
        if !outage {
            *b = Breaker::default();
            return false;
        }
        b.consecutive_failures += 1;
        if b.consecutive_failures >= BREAKER_THRESHOLD && b.open_until_ms <= now_ms {
            b.open_until_ms = now_ms + self.cooldown();
            return true;
        }
        false
    }

    /// Adopts an opening another isolate published.
    fn adopt(&self, vendor: &'static str, open_until_ms: u64) {
        let mut state = self.state.borrow_mut();
        let b = state.entry(vendor).or_default();
        b.open_until_ms = b.open_until_ms.max(open_until_ms);
    }
}

/// Feeds a vendor call's result to the breaker and passes it on.
pub async fn observe<T>(
    router: &VendorRouter,
    rt: &Runtime,
    vendor: &'static str,
    result: Result<T, VendorError>,
) -> Result<T, VendorError> {
    let outage = matches!(&result, Err(e) if e.is_outage());
    let now = rt.now_ms();
    if router.breakers.record(vendor, outage, now) {
        let until = now + router.breakers.cooldown();
        rt.kv.put(&kv_key(vendor), &until.to_string(), router.breakers.cooldown() / 1000 + 60).await;
    }
    result
}

/// Whether `vendor` is healthy, consulting other isolates' published openings.
pub async fn is_healthy(router: &VendorRouter, rt: &Runtime, vendor: &'static str) -> bool {
    let now = rt.now_ms();
    if let Some(until) = rt.kv.get(&kv_key(vendor)).await.and_then(|v| v.parse::<u64>().ok()) {
        router.breakers.adopt(vendor, until);
    }
    !router.breakers.is_open(vendor, now)
}

/// The vendor entry named `name`, or 400 for a name no deployment knows.
fn named<'a>(router: &'a VendorRouter, name: &str) -> ApiResult<&'a VendorEntry> {
    router.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = router.iter().map(|e| e.name).collect();
        ApiError::new(ErrorCode::UnknownVendor, format!("unknown vendor '{name}'; known vendors: {}", known.join(", ")))
            .with_detail("field", "vendor")
    })
}

/// A pinned vendor, usable for `capability`, or the reason it is not.
pub fn pinned<'a>(router: &'a VendorRouter, name: &str, capability: Capability) -> ApiResult<&'a dyn Vendor> {
    let entry = named(router, name)?;
    let vendor = match &entry.state {
        VendorState::Ready(v) => v.as_ref(),
        VendorState::Unconfigured => {
            return Err(ApiError::new(
                ErrorCode::VendorUnavailable,
                format!("vendor '{name}' is not configured in this deployment"),
            )
            .with_detail("vendor", entry.name))
        }
        VendorState::Misconfigured(why) => {
            return Err(ApiError::new(ErrorCode::VendorUnavailable, format!("vendor '{name}' is misconfigured: {why}"))
                .with_detail("vendor", entry.name))
        }
    };
    if !vendor.supports(capability) {
        return Err(unsupported(router, entry.name, capability));
    }
    Ok(vendor)
}

/// `UNSUPPORTED_BY_VENDOR`, naming the vendors that do support the capability.
pub fn unsupported(router: &VendorRouter, vendor: &str, capability: Capability) -> ApiError {
    let supporting: Vec<&str> =
        router.iter().filter_map(|e| e.ready()).filter(|v| v.supports(capability)).map(|v| v.name()).collect();
    ApiError::new(
        ErrorCode::UnsupportedByVendor,
        format!(
            "{vendor} does not support {}; supported by: {}",
            capability.id(),
            if supporting.is_empty() { "no configured vendor".to_owned() } else { supporting.join(", ") }
        ),
    )
    .with_detail("vendor", vendor.to_owned())
    .with_detail("supported_by", supporting)
}

/// Vendors to try for a new room, in order: the pin alone, or every configured vendor that
/// supports `capability`, healthy ones first (an open breaker is a last resort, not a ban).
pub async fn candidates<'a>(
    router: &'a VendorRouter,
    rt: &Runtime,
    capability: Capability,
    pin: Option<&str>,
) -> ApiResult<Vec<&'a dyn Vendor>> {
    if let Some(name) = pin {
        return Ok(vec![pinned(router, name, capability)?]);
    }
    let mut healthy = Vec::new();
    let mut down = Vec::new();
    for name in &router.order {
        let Some(vendor) = router.iter().filter(|e| e.name == name).find_map(|e| e.ready()) else { continue };
        if !vendor.supports(capability) {
            continue;
        }
        if is_healthy(router, rt, vendor.name()).await {
            healthy.push(vendor);
        } else {
            down.push(vendor);
        }
    }
    healthy.extend(down);
    if healthy.is_empty() {
        return Err(ApiError::new(
            ErrorCode::VendorUnavailable,
            format!("no configured vendor supports {}; configure one (see RTC_VENDOR_ORDER)", capability.id()),
        ));
    }
    Ok(healthy)
}

/// The vendor hosting an existing room. A pin that names another vendor is a conflict.
pub fn for_room<'a>(
    router: &'a VendorRouter,
    room_vendor: &str,
    pin: Option<&str>,
    capability: Capability,
) -> ApiResult<&'a dyn Vendor> {
    if let Some(name) = pin {
        named(router, name)?;
        if name != room_vendor {
            return Err(ApiError::new(
                ErrorCode::VendorMismatch,
                format!("the room is hosted on {room_vendor}, not {name}"),
            )
            .with_detail("vendor", room_vendor.to_owned()));
        }
    }
    let entry = named(router, room_vendor)?;
    match entry.ready() {
        Some(v) if v.supports(capability) => Ok(v),
        Some(_) => Err(unsupported(router, entry.name, capability)),
        None => Err(ApiError::new(
            ErrorCode::VendorUnavailable,
            format!("the room's vendor '{room_vendor}' is not configured in this deployment"),
        )
        .with_detail("vendor", entry.name)),
    }
}

/// Discovery status of one vendor for one capability.
pub async fn status(router: &VendorRouter, rt: &Runtime, entry: &VendorEntry, capability: Capability) -> &'static str {
    match &entry.state {
        VendorState::Unconfigured => "unconfigured",
        VendorState::Misconfigured(_) => "misconfigured",
        VendorState::Ready(v) if !v.supports(capability) => "unsupported",
        VendorState::Ready(v) => {
            if is_healthy(router, rt, v.name()).await {
                "live"
            } else {
                "down"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_closes_after_cooldown() {
        let b = Breakers::default();
        b.cooldown_ms.set(1_000);
        assert!(!b.record("livekit", true, 0));
        assert!(!b.record("livekit", true, 1));
        assert!(b.record("livekit", true, 2));
        assert!(b.is_open("livekit", 500));
        assert!(!b.is_open("livekit", 1_002));
        assert!(!b.is_open("agora", 500));
        // One success resets the count.
        b.record("zego", true, 0);
        b.record("zego", true, 0);
        b.record("zego", false, 0);
        assert!(!b.record("zego", true, 0));
    }
}
