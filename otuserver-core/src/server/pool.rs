//! The worker pool: threads for handlers that may block, beside the event
//! loops. A loop hands over a request whose head and body have arrived; a
//! pool thread runs the handler and posts the response to the loop that
//! owns the connection, which writes it. The queue is bounded (full means
//! `503`), threads are started as work needs them up to a bound, and a
//! handler that never returns costs one thread, never a loop.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use http::StatusCode;

use super::Shared;
use super::stream::Producer;
use crate::{Handler, Request, Response, response};

/// Where a response goes: event loop `lp`, connection `key`, which must
/// still be connection `id` (keys are reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReplyTo {
    pub lp: usize,
    pub key: usize,
    pub id: u64,
}

/// What a pool thread does.
pub(super) enum Job {
    /// Runs the handler on a request.
    Handle(Box<Request>, ReplyTo),
    /// Produces a streamed body, chunk by chunk, as the connection takes it.
    Produce(Producer),
}

/// What a pool thread tells an event loop.
pub(super) enum Mail {
    /// The handler's response for a connection.
    Reply(ReplyTo, Response),
    /// A streamed body has chunks ready for a connection that waits.
    Ready(ReplyTo),
}

/// An event loop's mail, and whether there is any (checked on every turn
/// of the loop without taking the lock).
#[derive(Default)]
pub(super) struct Mailbox {
    items: Mutex<Vec<Mail>>,
    pending: AtomicBool,
}

impl Mailbox {
    /// Leaves `mail`; the caller wakes the loop.
    pub fn post(&self, mail: Mail) {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(mail);
        self.pending.store(true, Ordering::Release);
    }

    /// Everything posted so far.
    pub fn take(&self) -> Vec<Mail> {
        // A load first: on every turn of every loop, and a write would
        // take the cache line from the other loops' cores.
        if !self.pending.load(Ordering::Acquire) || !self.pending.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A job the pool could not take.
#[derive(Debug)]
pub(super) struct Refused;

struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

pub(super) struct Pool<H> {
    handler: Arc<H>,
    shared: Arc<Shared>,
    queue: Mutex<Queue>,
    work: Condvar,
    max_threads: usize,
    capacity: usize,
}

impl<H: Handler> Pool<H> {
    /// A pool of at most `max_threads` threads (none started yet) with a
    /// queue of at most `capacity` jobs.
    pub fn new(
        handler: Arc<H>,
        shared: Arc<Shared>,
        max_threads: usize,
        capacity: usize,
    ) -> Arc<Pool<H>> {
        Arc::new(Pool {
            handler,
            shared,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                closed: false,
            }),
            work: Condvar::new(),
            max_threads,
            capacity,
        })
    }

    /// Queues `job`, starting a thread for it if none is idle and the bound
    /// allows; refuses it (and drops it) if the queue is full or the pool
    /// closed.
    pub fn submit(self: &Arc<Self>, job: Job) -> Result<(), Refused> {
        let mut q = self.lock();
        if q.closed || q.jobs.len() >= self.capacity {
            return Err(Refused);
        }
        // A thread for every job no idle thread will take: a woken thread
        // counts as idle until it runs, so compare with the queue.
        if q.jobs.len() >= q.idle && q.threads < self.max_threads {
            let pool = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name(format!("otuserver-pool-{}", q.threads))
                .spawn(move || pool.work());
            match started {
                Ok(_) => q.threads += 1,
                // With no thread at all the job would wait forever.
                Err(e) if q.threads == 0 => {
                    log::error!("starting a pool thread: {e}");
                    return Err(Refused);
                }
                Err(e) => log::warn!("starting a pool thread: {e}"),
            }
        }
        q.jobs.push_back(job);
        drop(q);
        self.work.notify_one();
        Ok(())
    }

    /// Lets idle threads end, drops the jobs still queued and refuses new
    /// ones (at shutdown). A thread still inside a handler ends when the
    /// handler returns.
    pub fn close(&self) {
        let dropped = {
            let mut q = self.lock();
            q.closed = true;
            // Their connections are closed: nobody is left to answer.
            std::mem::take(&mut q.jobs)
        };
        self.work.notify_all();
        drop(dropped);
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread: takes jobs until the pool closes.
    fn work(&self) {
        loop {
            let job = {
                let mut q = self.lock();
                loop {
                    if let Some(job) = q.jobs.pop_front() {
                        break job;
                    }
                    if q.closed {
                        q.threads -= 1;
                        return;
                    }
                    q.idle += 1;
                    q = self.work.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.idle -= 1;
                }
            };
            match job {
                Job::Handle(request, to) => {
                    let response = self.run(*request, to);
                    self.shared.post(to.lp, Mail::Reply(to, response));
                }
                Job::Produce(producer) => producer.run(),
            }
        }
    }

    /// The handler's answer to `request`; a panic is answered `500`.
    fn run(&self, request: Request, to: ReplyTo) -> Response {
        handle_caught(&*self.handler, request, || {
            format!("event loop {}, connection {}", to.lp, to.key)
        })
    }
}

/// `handler`'s answer to `request`, on whichever thread runs it: a panic
/// costs only this request, which is answered `500` and logged with
/// `whose` (which request it was).
pub(super) fn handle_caught<H: Handler>(
    handler: &H,
    request: Request,
    whose: impl FnOnce() -> String,
) -> Response {
    catch_unwind(AssertUnwindSafe(|| handler.handle(request))).unwrap_or_else(|_| {
        log::error!("handler panicked ({})", whose());
        response::status_page(StatusCode::INTERNAL_SERVER_ERROR)
    })
}
