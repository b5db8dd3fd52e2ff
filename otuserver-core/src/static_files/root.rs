//! The document root, followed by its path. Files are opened relative to
//! an open descriptor of the root, so that no path can climb out of it; but
//! a deploy replaces the tree under the same path (`mv site site.old;
//! mv new site`). So the path is looked at again at most once per
//! `recheck`: a new directory there is opened and served from then on, a
//! root that is gone is `503` until it is back, and each change is logged
//! once.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ResolveError;

/// An open root directory, with its device and inode.
type Opened = (Arc<File>, (u64, u64));

#[derive(Debug)]
struct Current {
    /// The directory open now, and its device and inode; `None` while the
    /// path leads nowhere.
    dir: Option<Opened>,
    checked: Instant,
}

#[derive(Debug)]
pub(crate) struct Root {
    path: PathBuf,
    recheck: Duration,
    current: Mutex<Current>,
}

impl Root {
    /// The root at `path` (canonical), a directory opened now, looked at
    /// again at most once per `recheck`.
    pub fn open(path: PathBuf, recheck: Duration) -> std::io::Result<Root> {
        let dir = File::open(&path)?;
        let meta = dir.metadata()?;
        Ok(Root {
            path,
            recheck,
            current: Mutex::new(Current {
                dir: Some((Arc::new(dir), (meta.dev(), meta.ino()))),
                checked: Instant::now(),
            }),
        })
    }

    /// The same root, looked at again at most once per `recheck`.
    pub fn with_recheck(&self, recheck: Duration) -> Root {
        let current = self.lock();
        Root {
            path: self.path.clone(),
            recheck,
            current: Mutex::new(Current {
                dir: current.dir.clone(),
                checked: current.checked,
            }),
        }
    }

    /// The root directory now at the path: the one open, or, once
    /// `recheck` has passed, whatever is there; `RootGone` if nothing is (or
    /// the path now leads somewhere else through a symlink).
    pub fn dir(&self) -> Result<Arc<File>, ResolveError> {
        {
            let current = self.lock();
            if current.checked.elapsed() < self.recheck {
                if let Some((dir, _)) = &current.dir {
                    return Ok(Arc::clone(dir));
                }
            }
        }
        // Looked at without the lock: a slow file system must not hold up
        // every loop's requests behind one.
        let found = self.look();
        let mut current = self.lock();
        current.checked = Instant::now();
        match found {
            Ok(Some((dir, id))) => {
                if let Some((open, open_id)) = &current.dir {
                    if *open_id == id {
                        return Ok(Arc::clone(open));
                    }
                }
                log::warn!(
                    "document root {}: a new directory, served from now on",
                    self.path.display()
                );
                current.dir = Some((Arc::clone(&dir), id));
                Ok(dir)
            }
            Ok(None) => {
                if current.dir.take().is_some() {
                    log::error!(
                        "document root {} is gone: answering 503 until it is back",
                        self.path.display()
                    );
                }
                Err(ResolveError::RootGone)
            }
            Err(e) => Err(e),
        }
    }

    /// The directory at the path now, if one is there and is the path
    /// itself (no symlink on the way leads elsewhere), with its identity.
    fn look(&self) -> Result<Option<Opened>, ResolveError> {
        let dir = match File::open(&self.path) {
            Ok(dir) => dir,
            Err(e) => match ResolveError::from(e) {
                ResolveError::NotFound => return Ok(None),
                other => return Err(other),
            },
        };
        let meta = dir.metadata()?;
        let real = super::resolve::real_path(&dir)?;
        if !meta.is_dir() || real != self.path {
            return Ok(None);
        }
        Ok(Some((Arc::new(dir), (meta.dev(), meta.ino()))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
