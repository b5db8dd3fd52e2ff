//! From a request path to a file inside the document root, and never outside.
//!
//! Two independent fences: the decoded path is resolved lexically, so `..`
//! can never climb above the root; then the kernel opens it with
//! `openat2(RESOLVE_BENEATH)` relative to the root directory, refusing any
//! symlink that would lead out. Where `openat2` is missing (Linux before
//! 5.6, some sandboxes), or refuses an absolute symlink that may still stay
//! inside, the real path (symlinks followed) is checked against the
//! canonical root instead.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ResolveError;
#[cfg(test)]
use crate::path::decode;

/// Flags for every file we open: read-only, and `O_NONBLOCK` so that a FIFO
/// swapped in after a check cannot block the thread in `open` (anything
/// but a regular file or directory is refused after opening).
const OPEN_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;

/// The kernel's `struct open_how` (its layout is part of the Linux ABI;
/// libc's own is non-exhaustive and cannot be built).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Cleared once `openat2` turns out to be unavailable.
static HAVE_OPENAT2: AtomicBool = AtomicBool::new(true);

/// Opens `rel` (a lexically resolved relative path) inside the root, never
/// outside it. `root_dir` is the open root directory, `root` its canonical
/// path.
pub(crate) fn open_beneath(root_dir: &File, root: &Path, rel: &Path) -> Result<File, ResolveError> {
    match kernel_open(root_dir, rel)? {
        Kernel::Opened(file) => Ok(file),
        Kernel::Undecided | Kernel::Refused => open_checked(root, rel),
    }
}

/// As [`open_beneath`], in one system call where the kernel confines the
/// open: a symlink it refuses (absolute, or leading out) is `Forbidden`
/// without the real-path check that could tell an absolute link staying
/// inside. For a listing's entries, whose count a client chooses.
pub(crate) fn open_beneath_quick(
    root_dir: &File,
    root: &Path,
    rel: &Path,
) -> Result<File, ResolveError> {
    match kernel_open(root_dir, rel)? {
        Kernel::Opened(file) => Ok(file),
        Kernel::Refused => Err(ResolveError::Forbidden),
        Kernel::Undecided => open_checked(root, rel),
    }
}

/// What `openat2(RESOLVE_BENEATH)` made of a path.
enum Kernel {
    Opened(File),
    /// No `openat2`, or a sandbox refusing it: the real-path check decides.
    Undecided,
    /// A symlink that is absolute or climbs out: only the real-path check
    /// tells an absolute link that stays inside from one that leaves.
    Refused,
}

/// `rel` opened by `openat2(RESOLVE_BENEATH)` under `root_dir`.
fn kernel_open(root_dir: &File, rel: &Path) -> Result<Kernel, ResolveError> {
    if !HAVE_OPENAT2.load(Ordering::Relaxed) {
        return Ok(Kernel::Undecided);
    }
    let name = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c_name = CString::new(name.as_os_str().as_bytes()).map_err(|_| ResolveError::BadPath)?;
    let how = OpenHow {
        flags: OPEN_FLAGS as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: the path is NUL-terminated, `how` is a valid open_how of the
    // size passed, and the directory descriptor is open.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_dir.as_raw_fd(),
            c_name.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if let Ok(fd) = libc::c_int::try_from(fd) {
        if fd >= 0 {
            // SAFETY: openat2 returned a new descriptor that we own.
            return Ok(Kernel::Opened(unsafe { File::from_raw_fd(fd) }));
        }
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            HAVE_OPENAT2.store(false, Ordering::Relaxed);
            Ok(Kernel::Undecided)
        }
        Some(libc::EPERM) => Ok(Kernel::Undecided),
        Some(libc::EXDEV) => Ok(Kernel::Refused),
        _ => Err(e.into()),
    }
}

/// Opens `rel` inside `root` after checking its real path, and checks what
/// was opened again, since a symlink may have been swapped in between: the
/// way without `openat2`.
fn open_checked(root: &Path, rel: &Path) -> Result<File, ResolveError> {
    let real = confine(root, &root.join(rel))?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(real)?;
    let opened = real_path(&file).map_err(|_| ResolveError::Forbidden)?;
    if opened.starts_with(root) {
        Ok(file)
    } else {
        Err(ResolveError::Forbidden)
    }
}

/// The path `file` was opened at, as the kernel resolved it.
pub(super) fn real_path(file: &File) -> std::io::Result<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// The real path of `candidate`, if and only if it exists and lies inside
/// `root` (which must itself be canonical).
pub(crate) fn confine(root: &Path, candidate: &Path) -> Result<PathBuf, ResolveError> {
    let real = candidate.canonicalize()?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(ResolveError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root with a file, symlinks in (to a file, to a directory,
    /// absolute and relative) and out (to a file and to a directory), and a
    /// secret beside it.
    fn tree() -> (tempfile::TempDir, PathBuf, File) {
        let base = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = base.path().join("root");
        let setup = || -> io::Result<()> {
            std::fs::create_dir_all(root.join("sub"))?;
            std::fs::write(base.path().join("secret"), "secret")?;
            std::fs::write(root.join("sub/file"), "file")?;
            std::os::unix::fs::symlink(base.path().join("secret"), root.join("out"))?;
            std::os::unix::fs::symlink(root.join("sub/file"), root.join("abs-in"))?;
            std::os::unix::fs::symlink("sub/file", root.join("rel-in"))?;
            std::os::unix::fs::symlink("../../secret", root.join("sub/up"))?;
            std::os::unix::fs::symlink(base.path(), root.join("sub/base"))?;
            std::os::unix::fs::symlink(root.join("sub"), root.join("dir-in"))?;
            Ok(())
        };
        setup().unwrap_or_else(|e| panic!("{e}"));
        let root = root.canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let dir = File::open(&root).unwrap_or_else(|e| panic!("{e}"));
        (base, root, dir)
    }

    #[test]
    fn both_ways_of_opening_keep_to_the_root() {
        let (_base, root, dir) = tree();
        assert!(
            HAVE_OPENAT2.load(Ordering::Relaxed),
            "openat2 is unavailable here: only the fallback would be tested"
        );
        for (rel, inside) in [
            ("sub/file", true),
            ("abs-in", true),
            ("rel-in", true),
            ("", true),
            ("out", false),
            ("sub/up", false),
        ] {
            let rel = Path::new(rel);
            for (way, opened) in [
                ("openat2", open_beneath(&dir, &root, rel)),
                ("real path", open_checked(&root, rel)),
            ] {
                match opened {
                    Ok(_) => assert!(inside, "{way} opened {} outside the root", rel.display()),
                    Err(e) => {
                        assert!(!inside, "{way} refused {}: {e}", rel.display());
                        assert!(
                            matches!(e, ResolveError::Forbidden),
                            "{way} {}: {e}",
                            rel.display()
                        );
                    }
                }
            }
        }
        assert!(matches!(
            open_beneath(&dir, &root, Path::new("missing")),
            Err(ResolveError::NotFound)
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Pieces hostile paths are made of, raw and percent-encoded.
        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("..".to_owned()),
                Just(".".to_owned()),
                Just("%2e%2e".to_owned()),
                Just("%2E.".to_owned()),
                Just("%2f".to_owned()),
                Just("%5c".to_owned()),
                Just("\\".to_owned()),
                Just("%252e".to_owned()),
                Just("%c0%ae".to_owned()),
                Just("%00".to_owned()),
                Just(";".to_owned()),
                Just("sub".to_owned()),
                Just("file".to_owned()),
                Just("out".to_owned()),
                Just("up".to_owned()),
                Just("abs-in".to_owned()),
                Just("rel-in".to_owned()),
                Just("base".to_owned()),
                Just("dir-in".to_owned()),
                Just("secret".to_owned()),
                Just("".to_owned()),
                "[a-z%./]{0,6}",
            ]
        }

        fn hostile_path() -> impl Strategy<Value = String> {
            prop::collection::vec(piece(), 0..12).prop_map(|p| format!("/{}", p.join("/")))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any string decodes to clean segments or is refused.
            #[test]
            fn decoding_never_leaves_a_dot_segment(raw in "\\PC{0,40}", hostile in hostile_path()) {
                for input in [raw, hostile] {
                    if let Ok(path) = decode(&input) {
                        for seg in &path.segments {
                            prop_assert!(!seg.is_empty() && seg != "." && seg != "..", "{input}: {seg:?}");
                            prop_assert!(!seg.contains('/') && !seg.contains('\0'), "{input}: {seg:?}");
                        }
                        prop_assert!(path.relative().components().all(|c| matches!(c, std::path::Component::Normal(_))));
                    }
                }
            }

            /// Whatever the path, what gets opened lies inside the root.
            #[test]
            fn opening_never_leaves_the_root(input in hostile_path()) {
                let (base, root, dir) = tree();
                if let Ok(path) = decode(&input) {
                    let rel = path.relative();
                    let opened = [open_beneath(&dir, &root, &rel), open_checked(&root, &rel)];
                    for file in opened.into_iter().flatten() {
                        let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
                        let real = std::fs::read_link(fd).unwrap_or_default();
                        prop_assert!(real.starts_with(&root), "{input} opened {}", real.display());
                    }
                }
                drop(base);
            }
        }
    }
}
