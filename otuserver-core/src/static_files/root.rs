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

#[derive(Debug)]
struct Current {
    /// The directory open now, and its device and inode; `None` while the
    /// path leads nowhere.
    dir: Option<(Arc<File>, (u64, u64))>,
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
    /// `recheck` has passed, whatever is there; `RootGone` if nothing is.
    pub fn dir(&self) -> Result<Arc<File>, ResolveError> {
        let mut current = self.lock();
        if current.checked.elapsed() < self.recheck {
            if let Some((dir, _)) = &current.dir {
                return Ok(Arc::clone(dir));
            }
        }
        current.checked = Instant::now();
        let found = std::fs::metadata(&self.path)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| (m.dev(), m.ino()));
        match (found, &current.dir) {
            (Some(id), Some((dir, open))) if id == *open => Ok(Arc::clone(dir)),
            (Some(_), _) => {
                let dir = File::open(&self.path).and_then(|d| {
                    let m = d.metadata()?;
                    Ok((Arc::new(d), (m.dev(), m.ino())))
                });
                match dir {
                    Ok((dir, id)) => {
                        log::warn!(
                            "document root {}: a new directory, served from now on",
                            self.path.display()
                        );
                        current.dir = Some((Arc::clone(&dir), id));
                        Ok(dir)
                    }
                    Err(e) => Err(ResolveError::from(e)),
                }
            }
            (None, previous) => {
                if previous.is_some() {
                    log::error!(
                        "document root {} is gone: answering 503 until it is back",
                        self.path.display()
                    );
                }
                current.dir = None;
                Err(ResolveError::RootGone)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
