//! A streamed response body between the pool thread that produces it and
//! the event loop that sends it: a channel of a few chunks, so that the
//! producer runs at most that far ahead of the client (back-pressure), and
//! stops as soon as the connection is gone; and the sending side, which
//! frames each chunk for the wire.

use std::io;
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Shared;
use super::outgoing::{Progress, send, written};
use super::pool::{Mail, ReplyTo};
use crate::{BodyStream, http1};

/// Chunks a producer may run ahead of what the socket has taken.
const AHEAD: usize = 4;

/// The producing end, run on a pool thread.
pub(super) struct Producer {
    chunks: BodyStream,
    tx: SyncSender<io::Result<Bytes>>,
    waiting: Arc<AtomicBool>,
    shared: Arc<Shared>,
    to: ReplyTo,
}

/// The consuming end, kept by the connection's response.
pub(super) struct Consumer {
    rx: Receiver<io::Result<Bytes>>,
    waiting: Arc<AtomicBool>,
}

/// What the consumer finds.
pub(super) enum Next {
    Chunk(Bytes),
    /// Nothing yet: the producer will wake the loop when there is.
    Wait,
    /// The body is complete.
    End,
    /// The producer failed: the body cannot be completed.
    Failed(io::Error),
}

/// A channel for `chunks`, whose producer wakes connection `to` of its
/// event loop when a chunk arrives for a consumer that waits.
pub(super) fn channel(
    chunks: BodyStream,
    shared: Arc<Shared>,
    to: ReplyTo,
) -> (Producer, Consumer) {
    let (tx, rx) = mpsc::sync_channel(AHEAD);
    let waiting = Arc::new(AtomicBool::new(false));
    let producer = Producer {
        chunks,
        tx,
        waiting: Arc::clone(&waiting),
        shared,
        to,
    };
    (producer, Consumer { rx, waiting })
}

impl Producer {
    /// Produces every chunk, blocking while the channel is full; returns
    /// early when the consumer is gone (the client left or was dropped).
    pub fn run(self) {
        let Producer {
            chunks,
            tx,
            waiting,
            shared,
            to,
        } = self;
        let mut chunks = chunks;
        loop {
            // A panic in the handler's iterator ends the body as an error
            // (the client sees it cut short) and leaves the thread alive.
            let next = catch_unwind(AssertUnwindSafe(|| chunks.next()))
                .unwrap_or_else(|_| Some(Err(io::Error::other("the body's producer panicked"))));
            let Some(chunk) = next else { break };
            if matches!(&chunk, Ok(b) if b.is_empty()) {
                continue;
            }
            let last = chunk.is_err();
            if tx.send(chunk).is_err() {
                return;
            }
            if waiting.swap(false, Ordering::SeqCst) {
                shared.post(to.lp, Mail::Ready(to));
            }
            if last {
                return;
            }
        }
        // The end is the channel's close, which a waiting consumer must see.
        drop(tx);
        if waiting.swap(false, Ordering::SeqCst) {
            shared.post(to.lp, Mail::Ready(to));
        }
    }
}

impl Consumer {
    /// The next chunk, if the producer has made it.
    pub fn next(&self) -> Next {
        match self.rx.try_recv() {
            Ok(chunk) => return Self::found(chunk),
            Err(TryRecvError::Disconnected) => return Next::End,
            Err(TryRecvError::Empty) => {}
        }
        // Say so before looking again: a chunk sent in between is found by
        // the second look, one sent after it wakes the loop.
        self.waiting.store(true, Ordering::SeqCst);
        match self.rx.try_recv() {
            Ok(chunk) => {
                self.waiting.store(false, Ordering::SeqCst);
                Self::found(chunk)
            }
            Err(TryRecvError::Empty) => Next::Wait,
            Err(TryRecvError::Disconnected) => Next::End,
        }
    }

    fn found(chunk: io::Result<Bytes>) -> Next {
        match chunk {
            Ok(bytes) => Next::Chunk(bytes),
            Err(e) => Next::Failed(e),
        }
    }
}

/// A streamed body on its way out: chunks taken from the producer as the
/// socket takes them, framed for the wire.
pub(super) struct StreamOut {
    source: Source,
    chunked: bool,
    /// The current chunk, framed, and how much of it is sent.
    buf: Vec<u8>,
    buf_sent: usize,
    /// Since when it waits for its producer, if it does.
    waiting_since: Option<Instant>,
    /// Time spent waiting for the producer before that.
    waited: Duration,
    /// The end is in `buf`, or needs no marker.
    finished: bool,
}

enum Source {
    /// Not started: no producer runs yet.
    Pending(Option<BodyStream>),
    Flowing(Consumer),
}

impl StreamOut {
    /// `chunks`, framed as chunks if `chunked`, else sent as they are (the
    /// connection's end marks the body's).
    pub fn new(chunks: BodyStream, chunked: bool) -> StreamOut {
        StreamOut {
            source: Source::Pending(Some(chunks)),
            chunked,
            buf: Vec::new(),
            buf_sent: 0,
            waiting_since: None,
            waited: Duration::ZERO,
            finished: false,
        }
    }

    /// The producer, the first time: it wakes connection `to` when chunks
    /// are ready.
    pub fn start(&mut self, shared: &Arc<Shared>, to: ReplyTo) -> Option<Producer> {
        let Source::Pending(chunks) = &mut self.source else {
            return None;
        };
        let (producer, consumer) = channel(chunks.take()?, Arc::clone(shared), to);
        self.source = Source::Flowing(consumer);
        Some(producer)
    }

    /// Whether it waits for its producer (which is then not the client's
    /// fault).
    pub fn waiting(&self) -> bool {
        self.waiting_since.is_some()
    }

    /// How long it has waited for its producer, all told: time the client
    /// is not to blame for.
    pub fn waited(&self, now: Instant) -> Duration {
        self.waited + self.waiting_since.map_or(Duration::ZERO, |t| now - t)
    }

    /// Sends what the producer has made, up to `budget` bytes: how far it
    /// got, the bytes sent, and whether a new chunk came.
    pub fn advance(
        &mut self,
        stream: &TcpStream,
        budget: u64,
    ) -> io::Result<(Progress, u64, bool)> {
        let (mut sent, mut fresh) = (0, false);
        loop {
            while self.buf_sent < self.buf.len() {
                if sent >= budget {
                    return Ok((Progress::Blocked, sent, fresh));
                }
                match written(send(stream, &self.buf[self.buf_sent..], false))? {
                    Some(n) => {
                        self.buf_sent += n;
                        sent += n as u64;
                    }
                    None => return Ok((Progress::Blocked, sent, fresh)),
                }
            }
            if self.finished {
                return Ok((Progress::Done, sent, fresh));
            }
            let Source::Flowing(consumer) = &self.source else {
                return Err(io::Error::other("a streamed body was never started"));
            };
            let next = consumer.next();
            let now = Instant::now();
            match (&next, self.waiting_since) {
                (Next::Wait, None) => self.waiting_since = Some(now),
                (Next::Wait, Some(_)) => {}
                (_, Some(since)) => {
                    self.waited += now - since;
                    self.waiting_since = None;
                }
                (_, None) => {}
            }
            match next {
                Next::Chunk(bytes) => {
                    fresh = true;
                    self.frame(&bytes);
                }
                Next::Wait => return Ok((Progress::Waiting, sent, fresh)),
                Next::End => {
                    self.finished = true;
                    self.buf.clear();
                    self.buf_sent = 0;
                    if self.chunked {
                        self.buf.extend_from_slice(http1::LAST_CHUNK);
                    }
                }
                Next::Failed(e) => return Err(e),
            }
        }
    }

    /// Makes `bytes` the chunk to send.
    fn frame(&mut self, bytes: &[u8]) {
        self.buf.clear();
        self.buf_sent = 0;
        if self.chunked {
            // Into a vector: cannot fail.
            let _ = http1::write_chunk(&mut self.buf, bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}
