//! The log lines a test's own requests write, captured instead of printed.

use crate::log::{native, Level};

/// Captures this thread's log lines while it lives.
pub struct LogCapture(());

impl LogCapture {
    pub fn start() -> LogCapture {
        native::capture(true);
        LogCapture(())
    }

    /// Every line captured so far, in order.
    pub fn lines(&self) -> Vec<(Level, String)> {
        native::peek()
    }

    /// The captured lines that contain `text`.
    pub fn containing(&self, text: &str) -> Vec<(Level, String)> {
        self.lines().into_iter().filter(|(_, line)| line.contains(text)).collect()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        native::capture(false);
    }
}
