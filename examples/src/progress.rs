//! A progress bar on standard error (`indicatif`), hidden when no one is watching.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar for `total` steps of a named phase.
#[derive(Debug)]
pub struct Progress(ProgressBar);

impl Progress {
    /// Starts a bar (hidden when standard error is not a terminal).
    pub fn new(label: impl Into<String>, total: u64) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(total.max(1))
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "  {msg:<22} {wide_bar} {percent:>3}%  {pos}/{len}  {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(label.into());
        Progress(bar)
    }

    /// Advances by `n` steps.
    pub fn advance(&mut self, n: u64) {
        self.0.inc(n);
    }

    /// Moves to `done` steps (never back).
    pub fn set(&mut self, done: u64) {
        if done > self.0.position() {
            self.0.set_position(done);
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(self) {
        self.0.finish();
    }
}
