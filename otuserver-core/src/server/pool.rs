//! The worker threads, and the registry of open connections that lets a
//! shutdown wake the workers waiting on idle ones.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::{ServerConfig, Shared, connection};
use crate::Handler;

/// An accepted connection waiting for a worker.
pub(super) type Job = (TcpStream, SocketAddr);

/// A fixed number of threads taking connections off one queue.
pub(super) struct Pool {
    queue: Sender<Job>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub(super) fn start<H: Handler>(
        workers: usize,
        handler: H,
        config: ServerConfig,
        shared: &Arc<Shared>,
    ) -> std::io::Result<Pool> {
        let (handler, config) = (Arc::new(handler), Arc::new(config));
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let mut threads = Vec::with_capacity(workers);
        for n in 0..workers {
            let (handler, config, shared, jobs) = (
                Arc::clone(&handler),
                Arc::clone(&config),
                Arc::clone(shared),
                Arc::clone(&jobs),
            );
            let thread = std::thread::Builder::new()
                .name(format!("otuserver-worker-{n}"))
                .spawn(move || work(&*handler, &config, &shared, &jobs));
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Let the threads already started see a closed queue and end.
                    drop(queue);
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(Pool { queue, threads })
    }

    /// Hands `job` to a worker; returns `false` if no worker is left.
    pub(super) fn dispatch(&self, job: Job) -> bool {
        self.queue.send(job).is_ok()
    }

    /// Closes the queue and waits for every worker to finish.
    pub(super) fn join(self) {
        drop(self.queue);
        for t in self.threads {
            if t.join().is_err() {
                log::error!("a worker thread panicked outside a connection");
            }
        }
    }
}

fn work<H: Handler>(
    handler: &H,
    config: &ServerConfig,
    shared: &Shared,
    jobs: &Mutex<Receiver<Job>>,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((stream, peer)) = job else { return };
        if shared.stopping() {
            continue; // dropping the stream closes it
        }
        let served = catch_unwind(AssertUnwindSafe(|| {
            connection::serve(&stream, peer, handler, config, shared);
        }));
        if served.is_err() {
            log::error!("connection from {peer} panicked; the worker goes on");
        }
    }
}

/// The connections being served, so that a shutdown can end the reads that
/// workers are blocked in.
#[derive(Default)]
pub(super) struct Registry {
    next: AtomicU64,
    open: Mutex<HashMap<u64, TcpStream>>,
}

impl Registry {
    /// Records `stream` until the returned guard drops. A stream that cannot
    /// be recorded is still served; it is only closed at shutdown by its own
    /// timeout instead of at once.
    pub(super) fn enter<'a>(&'a self, stream: &TcpStream) -> RegistryGuard<'a> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            self.lock().insert(id, clone);
        }
        RegistryGuard { registry: self, id }
    }

    /// Ends every pending read: idle connections see end-of-file and close,
    /// responses being written are not touched.
    pub(super) fn close_idle(&self) {
        for stream in self.lock().values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes its connection from the registry when dropped.
pub(super) struct RegistryGuard<'a> {
    registry: &'a Registry,
    id: u64,
}

impl Drop for RegistryGuard<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}
