//! A short-lived cache of small files, so that a busy server answers the
//! same small file without opening it again for every request.
//!
//! An entry is trusted for the cache's time to live (1 s by default, as
//! lighttpd trusts its stat cache): a file changed on disk is served fresh
//! at most that long after. Only files whose every form (original and
//! precompressed variants) is up to [`MAX_FILE`] bytes are kept, and the
//! whole cache is dropped when it grows past [`MAX_BYTES`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::representation::FileSet;
use crate::path::RequestPath;

/// The largest file kept.
pub(crate) const MAX_FILE: u64 = 16 * 1024;
/// The most bytes kept in all, keys and bookkeeping counted.
pub(crate) const MAX_BYTES: usize = 8 << 20;
/// The most entries kept.
pub(crate) const MAX_ENTRIES: usize = 16 * 1024;
/// What an entry costs beside its body and key, roughly.
const ENTRY_OVERHEAD: usize = 128;

struct Entry {
    /// Every representation in memory.
    set: Arc<FileSet>,
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

    /// The file set for `path`, if a fresh entry holds it.
    pub fn get(&self, path: &RequestPath) -> Option<Arc<FileSet>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.lock();
        let (entry, _) = entries.map.get(path)?;
        if entry.stored.elapsed() >= self.ttl {
            return None;
        }
        Some(Arc::clone(&entry.set))
    }

    /// Returns `set`; if all its files are small, reads them into memory
    /// first and keeps them for `path`.
    pub fn keep(&self, path: &RequestPath, set: FileSet) -> Arc<FileSet> {
        if self.ttl.is_zero() || set.lens().any(|len| len > MAX_FILE) {
            return Arc::new(set);
        }
        // A file that shrank or changed meanwhile is sent from disk.
        let Some(copy) = set.to_memory() else {
            return Arc::new(set);
        };
        let cost = set.lens().sum::<u64>() as usize
            + ENTRY_OVERHEAD
            + path.segments.iter().map(String::len).sum::<usize>();
        let copy = Arc::new(copy);
        let entry = Entry {
            set: Arc::clone(&copy),
            stored: Instant::now(),
        };
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
        copy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
