//! A small `log` backend: access lines to stdout, everything else to stderr,
//! written by a thread of its own. The event loops only hand lines over a
//! bounded queue and never wait on a pipe: when the reader of the log falls
//! behind and the queue is full, lines are dropped and counted, and the
//! count is reported once the writer gets through again.

use std::io::{BufWriter, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use log::{Log, Metadata, Record};

/// Lines waiting for the writer: a few hundred KiB at most.
const QUEUED: usize = 4096;
/// How long an exiting program waits for the log to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Message {
    Access(String),
    Other(String),
    /// Written everything before this: say so on the channel.
    Flush(SyncSender<()>),
}

struct Logger {
    queue: OnceLock<SyncSender<Message>>,
    dropped: AtomicU64,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

impl Logger {
    fn send(&self, message: Message) {
        let Some(tx) = self.queue.get() else { return };
        match tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        self.send(if record.target() == otuserver_core::ACCESS_LOG_TARGET {
            Message::Access(record.args().to_string())
        } else {
            Message::Other(format!("[{}] {}", record.level(), record.args()))
        });
    }

    /// Waits, a little, for what was logged so far to be written.
    fn flush(&self) {
        let Some(tx) = self.queue.get() else { return };
        let (done, written) = mpsc::sync_channel(1);
        let until = Instant::now() + FLUSH_WAIT;
        let mut flush = Message::Flush(done);
        // Not `send`: a full queue whose reader is stuck would block for
        // good. A full queue that moves gets the marker in time.
        loop {
            match tx.try_send(flush) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < until => {
                    flush = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = written.recv_timeout(until.saturating_duration_since(Instant::now()));
    }
}

/// Writes what the loggers hand over, a batch at a time, reporting lines
/// dropped meanwhile. A closed stdout or stderr must not bring the server
/// down.
fn write(lines: &Receiver<Message>, dropped: &AtomicU64) {
    let mut out = BufWriter::new(std::io::stdout());
    let mut err = std::io::stderr();
    while let Ok(first) = lines.recv() {
        report(&mut err, dropped);
        for message in std::iter::once(first).chain(lines.try_iter()) {
            match message {
                Message::Access(line) => {
                    let _ = writeln!(out, "{line}");
                }
                Message::Other(line) => {
                    let _ = out.flush();
                    let _ = writeln!(err, "{line}");
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    report(&mut err, dropped);
                    let _ = done.send(());
                }
            }
        }
        let _ = out.flush();
    }
}

/// Says on `err` how many lines were dropped since it last said so.
fn report(err: &mut impl Write, dropped: &AtomicU64) {
    let lost = dropped.swap(0, Ordering::Relaxed);
    if lost > 0 {
        let _ = writeln!(
            err,
            "[WARN] {lost} log lines dropped: the log's reader did not keep up"
        );
    }
}

/// Installs the logger with `level` as the most verbose level shown, and
/// starts its writer.
pub fn init(level: log::LevelFilter) {
    let (tx, rx) = mpsc::sync_channel(QUEUED);
    let logger = LOGGER.get_or_init(|| Logger {
        queue: OnceLock::new(),
        dropped: AtomicU64::new(0),
    });
    let started = std::thread::Builder::new()
        .name("otuserver-log".into())
        .spawn(move || write(&rx, &logger.dropped));
    if started.is_err() || logger.queue.set(tx).is_err() {
        return;
    }
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
