//! Running out of file descriptors, said once a second: each time it
//! happens is counted, and the count logged at most once a second, so that
//! a shortage is visible without a flood of identical lines.

#[cfg(feature = "server")]
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a shortage is logged at most.
const EVERY: Duration = Duration::from_secs(1);

struct Tally {
    since: Option<Instant>,
    count: u64,
}

static TALLY: Mutex<Tally> = Mutex::new(Tally {
    since: None,
    count: 0,
});

/// Counts `e` if it is a shortage (the process or the system has no
/// descriptor left), and logs the count once a second; logs any other
/// error as it is.
#[cfg(feature = "server")]
pub(crate) fn note(e: &io::Error) {
    if !matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        log::error!("{e}");
        return;
    }
    count();
}

/// Counts one shortage, and logs the count once a second.
pub(crate) fn count() {
    let mut tally = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    tally.count += 1;
    let now = Instant::now();
    if tally.since.is_some_and(|t| now.duration_since(t) < EVERY) {
        return;
    }
    log::error!(
        "out of file descriptors: {} times in the last second; answering 503",
        tally.count
    );
    tally.since = Some(now);
    tally.count = 0;
}
