//! Log lines. On wasm they go to the Workers console (visible in `wrangler tail`), natively to
//! stderr, or to the lines a test captures (`native::LogCapture`). Callers pass messages that
//! never contain secrets: keys and vendor credentials are only ever referred to by name or by
//! their last four characters.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
        }
    }
}

pub fn error(message: &str) {
    write(Level::Error, message);
}

pub fn warn(message: &str) {
    write(Level::Warn, message);
}

pub fn info(message: &str) {
    write(Level::Info, message);
}

pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    match level {
        Level::Error => worker::console_error!("{message}"),
        Level::Warn => worker::console_warn!("{message}"),
        Level::Info => worker::console_log!("{message}"),
    }
    #[cfg(not(target_arch = "wasm32"))]
    if !native::captured(level, message) {
        eprintln!("rtcgate {}: {message}", level.as_str());
    }
}

/// Natively, a thread's lines can be captured instead of printed: the native runtime runs a
/// request and the work after it on the thread that started it, so a test sees exactly the
/// lines its own requests wrote.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;

    use super::Level;

    thread_local! {
        static CAPTURED: RefCell<Option<Vec<(Level, String)>>> = const { RefCell::new(None) };
    }

    /// Keeps the line if this thread captures; whether it did.
    pub(crate) fn captured(level: Level, message: &str) -> bool {
        CAPTURED.with(|c| c.borrow_mut().as_mut().map(|lines| lines.push((level, message.to_owned()))).is_some())
    }

    /// Starts (or, with `false`, stops) capturing this thread's lines, returning those kept so far.
    pub(crate) fn capture(on: bool) -> Vec<(Level, String)> {
        CAPTURED.with(|c| {
            let mut c = c.borrow_mut();
            let kept = c.take().unwrap_or_default();
            if on {
                *c = Some(Vec::new());
            }
            kept
        })
    }

    /// The lines captured so far, left in place.
    pub(crate) fn peek() -> Vec<(Level, String)> {
        CAPTURED.with(|c| c.borrow().clone().unwrap_or_default())
    }
}
