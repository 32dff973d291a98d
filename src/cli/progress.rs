//! Progress where people wait (joining a cluster, a branch moving here): a spinner with the
//! elapsed time on a terminal, and a plain line now and then otherwise (logs, CI), so a wait
//! never looks like a hang.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a wait without a terminal prints where it is.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One step being waited on.
pub struct Step {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    started: Instant,
}

impl Step {
    /// Starts showing `msg`.
    pub fn start(msg: &str) -> Step {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(msg.to_string());
            bar
        });
        if bar.is_none() {
            eprintln!("{msg}…");
        }
        Step {
            bar,
            last_line: Instant::now(),
            started: Instant::now(),
        }
    }

    /// Shows where the step is now (without a terminal: at most every few seconds).
    pub fn update(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{msg}");
            }
            None => {}
        }
    }

    /// Ends the step with `msg` and how long it took.
    pub fn done(self, msg: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        eprintln!("{msg} ({:.1}s)", self.started.elapsed().as_secs_f64());
    }
}

/// Runs `f`, and shows `msg` with a spinner (or one plain line) if it takes more than a second.
pub fn waiting<T: Send>(msg: &str, f: impl FnOnce() -> T + Send) -> T {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let shown = s.spawn(move || {
            if rx.recv_timeout(Duration::from_secs(1)).is_ok() {
                return;
            }
            let step = Step::start(msg);
            let _ = rx.recv();
            step.done("done");
        });
        let out = f();
        drop(tx);
        let _ = shown.join();
        out
    })
}
