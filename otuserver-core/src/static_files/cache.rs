//! A short-lived cache of small files, so that a busy server answers the
//! same small file without opening it again for every request.
//!
//! An entry is trusted for the cache's time to live (1 s by default, as
//! lighttpd trusts its stat cache): a file changed on disk is served fresh
//! at most that long after. Only regular files up to [`MAX_FILE`] bytes are
//! kept, and the whole cache is dropped when it grows past [`MAX_BYTES`].

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LAST_MODIFIED};
use http::{HeaderValue, StatusCode};

use super::resolve::RequestPath;
use crate::{Body, Response};

/// The largest file kept.
pub(crate) const MAX_FILE: u64 = 16 * 1024;
/// The most bytes kept in all, keys and bookkeeping counted.
pub(crate) const MAX_BYTES: usize = 8 << 20;
/// The most entries kept.
pub(crate) const MAX_ENTRIES: usize = 16 * 1024;
/// What an entry costs beside its body and key, roughly.
const ENTRY_OVERHEAD: usize = 128;

#[derive(Clone)]
struct Entry {
    body: Bytes,
    content_type: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    stored: Instant,
}

#[derive(Default)]
struct Entries {
    /// Each entry with what it costs.
    map: HashMap<RequestPath, (Entry, usize)>,
    bytes: usize,
}

pub(crate) struct FileCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl FileCache {
    /// A cache trusting entries for `ttl`; zero turns it off.
    pub fn new(ttl: Duration) -> Self {
        FileCache {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// How long entries are trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The response for `path`, if a fresh entry holds it.
    pub fn get(&self, path: &RequestPath) -> Option<Response> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.lock().map.get(path)?.0.clone();
        if entry.stored.elapsed() >= self.ttl {
            return None;
        }
        let mut resp = Response::new(Body::Bytes(entry.body));
        let headers = resp.headers_mut();
        if let Some(v) = entry.content_type {
            headers.insert(CONTENT_TYPE, v);
        }
        if let Some(v) = entry.last_modified {
            headers.insert(LAST_MODIFIED, v);
        }
        Some(resp)
    }

    /// Returns `resp`; if it is a small file, reads it into memory first
    /// and keeps it for `path`.
    pub fn keep(&self, path: &RequestPath, resp: Response) -> Response {
        if self.ttl.is_zero() || resp.status() != StatusCode::OK {
            return resp;
        }
        let (parts, body) = resp.into_parts();
        let body = match body {
            Body::File { file, offset, len } if len <= MAX_FILE => {
                let mut bytes = vec![0; len as usize];
                match file.read_exact_at(&mut bytes, offset) {
                    Ok(()) => Bytes::from(bytes),
                    // Shrank meanwhile: send it as a file, which reports it.
                    Err(_) => return Response::from_parts(parts, Body::File { file, offset, len }),
                }
            }
            other => return Response::from_parts(parts, other),
        };
        let entry = Entry {
            body: body.clone(),
            content_type: parts.headers.get(CONTENT_TYPE).cloned(),
            last_modified: parts.headers.get(LAST_MODIFIED).cloned(),
            stored: Instant::now(),
        };
        let cost =
            body.len() + ENTRY_OVERHEAD + path.segments.iter().map(String::len).sum::<usize>();
        {
            let mut entries = self.lock();
            if entries.bytes + cost > MAX_BYTES || entries.map.len() >= MAX_ENTRIES {
                entries.map.clear();
                entries.bytes = 0;
            }
            if let Some(old) = entries.map.insert(path.clone(), (entry, cost)) {
                entries.bytes -= old.1;
            }
            entries.bytes += cost;
        }
        Response::from_parts(parts, Body::Bytes(body))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
