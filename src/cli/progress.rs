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

/// Runs `f`, and shows `msg` with a spinner (or one plain line) if it takes more than a second,
/// ended by "done" or "failed".
pub fn waiting<T: Send, E: Send>(
    msg: &str,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    waiting_after(msg, Duration::from_secs(1), f).0
}

/// [`waiting`] after `delay`; also says whether the line was shown, and ended as done.
fn waiting_after<T: Send, E: Send>(
    msg: &str,
    delay: Duration,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> (Result<T, E>, Option<bool>) {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    std::thread::scope(|s| {
        let shown = s.spawn(move || {
            match rx.recv_timeout(delay) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(_) | Err(RecvTimeoutError::Disconnected) => return None,
            }
            let step = Step::start(msg);
            let ok = rx.recv().unwrap_or(false);
            step.done(if ok { "done" } else { "failed" });
            Some(ok)
        });
        let out = f();
        let _ = tx.send(out.is_ok());
        let shown = shown.join().unwrap_or(None);
        (out, shown)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_only_for_what_takes_long_ended_by_how_it_went() {
        let quick = waiting_after("quick", Duration::from_secs(5), || Ok::<_, ()>(1));
        assert_eq!(quick, (Ok(1), None));
        let quick_err = waiting_after("quick", Duration::from_secs(5), || Err::<(), _>(2));
        assert_eq!(quick_err, (Err(2), None));
        let slow = |ok: bool| {
            waiting_after("slow", Duration::from_millis(20), move || {
                std::thread::sleep(Duration::from_millis(300));
                if ok { Ok(()) } else { Err(()) }
            })
        };
        assert_eq!(slow(true), (Ok(()), Some(true)));
        assert_eq!(slow(false), (Err(()), Some(false)));
    }
}
