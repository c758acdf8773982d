//! zego (being written).

pub mod token;

use super::{entry, EnvVars, VendorEntry, VendorState};

pub fn setup(_env: EnvVars<'_>) -> VendorEntry {
    entry("zego", VendorState::Unconfigured)
}
