//! Log lines. On wasm they go to the Workers console (visible in `wrangler tail`), natively to
//! stderr. Callers pass messages that never contain secrets: keys and vendor credentials are
//! only ever referred to by name or by their last four characters.

pub fn error(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("rtcgate error: {message}");
}

pub fn warn(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_warn!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("rtcgate warn: {message}");
}

pub fn info(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("rtcgate info: {message}");
}
