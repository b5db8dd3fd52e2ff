//! A short-lived cache of files, so that a busy server answers the same
//! file without opening it again for every request: small files in memory,
//! large ones kept open (their descriptors, metadata, validators and
//! variants, as nginx's `open_file_cache` and lighttpd's stat cache do).
//!
//! An entry is trusted for the cache's time to live (1 s by default, as
//! lighttpd trusts its stat cache): a file changed on disk is served fresh
//! at most that long after. Files whose every form (original and
//! precompressed variants) is up to [`MAX_FILE`] bytes are kept in memory,
//! others open, at most [`MAX_DESCRIPTORS`] descriptors in all. Entries
//! are keyed by request path, but the bytes are kept once per file: many
//! paths to one file (through symlinks, say) share one copy. Everything is
//! charged at what it costs, keys included, under a hard cap of
//! [`MAX_BYTES`]; expired entries go as soon as the cache is next used,
//! and when the cap is reached the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::representation::{FileSet, Stamp};
use crate::path::RequestPath;

/// The largest file kept.
pub(crate) const MAX_FILE: u64 = 16 * 1024;
/// The most bytes kept in all, keys, bodies and bookkeeping counted.
pub(crate) const MAX_BYTES: usize = 8 << 20;
/// The most files the cache holds open (large files, kept open rather
/// than read): part of the descriptor reserve the connection cap leaves.
pub(crate) const MAX_DESCRIPTORS: usize = 64;
/// What a map entry costs beside what it points to: hash, bucket, slack.
const MAP_ENTRY: usize = 64;

/// Which files a set was made from, and the type it is served as: equal
/// identities, equal answers (two names for one file may differ in type).
type Identity = ([Option<Stamp>; 3], Option<HeaderValue>);

struct Entry {
    identity: Identity,
    /// The set its body holds, so that a hit is one lookup.
    set: Arc<FileSet>,
    stored: Instant,
    /// What the key costs.
    cost: usize,
}

/// A file set (in memory, or open files), and how many paths lead to it.
struct Body {
    set: Arc<FileSet>,
    paths: usize,
    cost: usize,
}

#[derive(Default)]
struct Entries {
    by_path: HashMap<RequestPath, Entry>,
    bodies: HashMap<Identity, Body>,
    /// Paths in the order stored, to expire and evict the oldest first.
    order: VecDeque<(RequestPath, Instant)>,
    bytes: usize,
    descriptors: usize,
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

/// What a heap allocation of `len` bytes takes: the allocator's header and
/// rounding (glibc's chunks are 16-byte multiples of at least 32).
fn heap(len: usize) -> usize {
    (len + 8).next_multiple_of(16).max(32)
}

/// What keeping `path` costs: the key twice (map and order queue), each
/// with its vector of strings, and the map entries.
fn key_cost(path: &RequestPath) -> usize {
    let segments = path.segments.len();
    let strings: usize = path.segments.iter().map(|s| heap(s.len())).sum();
    let key = size_of::<RequestPath>() + heap(segments * size_of::<String>()) + strings;
    2 * (key + MAP_ENTRY) + size_of::<Entry>()
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
        let mut entries = self.lock();
        entries.expire(self.ttl);
        let set = Arc::clone(&entries.by_path.get(path)?.set);
        if set.descriptors() == 0 {
            return Some(set);
        }
        // An open file written over in place would send its new bytes under
        // the old length and tag; one fstat per file, outside the lock.
        drop(entries);
        if set.unchanged() {
            return Some(set);
        }
        self.lock().remove(path);
        None
    }

    /// Returns `set` and keeps it for `path`: in memory if all its files
    /// are small, else open; one copy for all paths to the same files.
    pub fn keep(&self, path: &RequestPath, set: FileSet) -> Arc<FileSet> {
        if self.ttl.is_zero() {
            return Arc::new(set);
        }
        // A large file is kept open instead, with its metadata and its
        // variants (or their absence), as nginx's open_file_cache does.
        let open = set.lens().any(|len| len > MAX_FILE);
        let identity = set.identity();
        let mut entries = self.lock();
        entries.expire(self.ttl);
        entries.remove(path);
        let shared = entries.bodies.get(&identity).map(|b| Arc::clone(&b.set));
        let (copy, body_cost) = match shared {
            Some(copy) => (copy, 0),
            None if open => (Arc::new(set), size_of::<FileSet>() + MAP_ENTRY),
            None => {
                // Read outside the lock: a file that shrank or changed
                // meanwhile is sent from disk.
                drop(entries);
                let Some(copy) = set.to_memory() else {
                    return Arc::new(set);
                };
                let cost = copy.lens().sum::<u64>() as usize + size_of::<FileSet>() + MAP_ENTRY;
                entries = self.lock();
                // Another thread may have kept this path meanwhile.
                entries.remove(path);
                (Arc::new(copy), cost)
            }
        };
        let cost = key_cost(path);
        let descriptors = copy.descriptors();
        if cost + body_cost > MAX_BYTES || descriptors > MAX_DESCRIPTORS {
            return copy;
        }
        while entries.bytes + cost + body_cost > MAX_BYTES
            || entries.descriptors + descriptors > MAX_DESCRIPTORS
        {
            let Some((oldest, stored)) = entries.order.pop_front() else {
                break;
            };
            entries.remove_stored(&oldest, stored);
        }
        let now = Instant::now();
        let body = entries
            .bodies
            .entry(identity.clone())
            .or_insert_with(|| Body {
                set: Arc::clone(&copy),
                paths: 0,
                cost: body_cost,
            });
        body.paths += 1;
        let first = body.paths == 1;
        let (added, held) = (body.cost, body.set.descriptors());
        entries.bytes += cost + if first { added } else { 0 };
        entries.descriptors += if first { held } else { 0 };
        entries.order.push_back((path.clone(), now));
        entries.by_path.insert(
            path.clone(),
            Entry {
                identity,
                set: Arc::clone(&copy),
                stored: now,
                cost,
            },
        );
        copy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    /// Drops the entries older than `ttl`.
    fn expire(&mut self, ttl: Duration) {
        while let Some((path, stored)) = self.order.front() {
            if stored.elapsed() < ttl {
                break;
            }
            let (path, stored) = (path.clone(), *stored);
            self.order.pop_front();
            self.remove_stored(&path, stored);
        }
    }

    /// Drops `path`'s entry if it is the one stored at `stored`: the queue
    /// may hold a path stored again since, whose entry must stay.
    fn remove_stored(&mut self, path: &RequestPath, stored: Instant) {
        if self.by_path.get(path).is_some_and(|e| e.stored == stored) {
            self.remove(path);
        }
    }

    /// Drops `path`'s entry, and its body if no other path leads to it.
    fn remove(&mut self, path: &RequestPath) {
        let Some(entry) = self.by_path.remove(path) else {
            return;
        };
        self.bytes = self.bytes.saturating_sub(entry.cost);
        if let Some(body) = self.bodies.get_mut(&entry.identity) {
            body.paths = body.paths.saturating_sub(1);
            if body.paths == 0 {
                self.bytes = self.bytes.saturating_sub(body.cost);
                self.descriptors = self.descriptors.saturating_sub(body.set.descriptors());
                self.bodies.remove(&entry.identity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::decode;

    fn set(path: &std::path::Path) -> FileSet {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
        let meta = file.metadata().unwrap_or_else(|e| panic!("{e}"));
        let open = |_: &std::path::Path| Err(crate::ResolveError::NotFound);
        FileSet::load(file, &meta, std::path::Path::new("f.txt"), false, open)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn paths_to_one_file_share_its_bytes_and_expired_entries_go() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("f.txt");
        std::fs::write(&file, b"shared bytes").unwrap_or_else(|e| panic!("{e}"));
        let cache = FileCache::new(Duration::from_millis(100));
        let (a, b) = (decode("/a/f.txt").unwrap(), decode("/b/f.txt").unwrap());
        let first = cache.keep(&a, set(&file));
        let second = cache.keep(&b, set(&file));
        assert!(Arc::ptr_eq(&first, &second), "one copy for both paths");
        {
            let entries = cache.lock();
            assert_eq!((entries.by_path.len(), entries.bodies.len()), (2, 1));
            let keys = key_cost(&a) + key_cost(&b);
            assert!(entries.bytes > keys, "the body is charged too");
        }
        assert!(cache.get(&a).is_some());
        std::thread::sleep(Duration::from_millis(150));
        // The next use of the cache drops what expired, body and all.
        assert!(cache.get(&decode("/other").unwrap()).is_none());
        let entries = cache.lock();
        assert_eq!((entries.by_path.len(), entries.bodies.len()), (0, 0));
        assert_eq!(entries.bytes, 0);
    }

    #[test]
    fn accounting_holds_when_threads_keep_the_same_paths_at_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("f.txt");
        std::fs::write(&file, b"contended").unwrap_or_else(|e| panic!("{e}"));
        let cache = Arc::new(FileCache::new(Duration::from_millis(1)));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (cache, file) = (Arc::clone(&cache), file.clone());
                std::thread::spawn(move || {
                    for i in 0..3000 {
                        let path = decode(&format!("/p{}/f.txt", (i + t) % 4)).unwrap();
                        if cache.get(&path).is_none() {
                            cache.keep(&path, set(&file));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap_or_else(|_| panic!("a thread panicked"));
        }
        let entries = cache.lock();
        let keys: usize = entries.by_path.values().map(|e| e.cost).sum();
        let bodies: usize = entries.bodies.values().map(|b| b.cost).sum();
        assert_eq!(entries.bytes, keys + bodies, "bytes drifted");
        for (identity, body) in &entries.bodies {
            let paths = entries
                .by_path
                .values()
                .filter(|e| e.identity == *identity)
                .count();
            assert_eq!(body.paths, paths, "a body's path count drifted");
        }
    }
}
