//! A one-line progress bar on standard error, redrawn in place.

use std::io::Write;
use std::time::{Duration, Instant};

/// A progress bar for `total` steps of a named phase.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// Starts a bar.
    pub fn new(label: impl Into<String>, total: u64) -> Self {
        Progress {
            label: label.into(),
            total: total.max(1),
            done: 0,
            started: Instant::now(),
            last_draw: None,
        }
    }

    /// Advances by `n` steps, redrawing at most every 100 ms.
    pub fn advance(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        let now = Instant::now();
        if self
            .last_draw
            .is_none_or(|t| now - t >= Duration::from_millis(100))
        {
            self.last_draw = Some(now);
            self.draw();
        }
    }

    /// Moves to `done` steps (never back), redrawing at most every 100 ms.
    pub fn set(&mut self, done: u64) {
        self.advance(done.saturating_sub(self.done));
    }

    /// Draws the final state and ends the line.
    pub fn finish(mut self) {
        self.done = self.total;
        self.draw();
        eprintln!();
    }

    fn draw(&self) {
        const WIDTH: u64 = 30;
        let filled = (self.done * WIDTH / self.total) as usize;
        let bar = format!(
            "{}{}",
            "█".repeat(filled),
            "░".repeat(WIDTH as usize - filled)
        );
        let pct = self.done * 100 / self.total;
        let secs = self.started.elapsed().as_secs_f64();
        eprint!(
            "\r  {:<22} {bar} {pct:>3}%  {}/{}  {secs:.1}s",
            self.label, self.done, self.total
        );
        let _ = std::io::stderr().flush();
    }
}
