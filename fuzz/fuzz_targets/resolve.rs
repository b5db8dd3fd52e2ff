//! The path resolver through the static-files handler: whatever the request
//! target, the answer never carries a byte from outside the document root.
#![no_main]

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use otuserver_core::{Body, Bytes, Handler, StaticFiles, http};

const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";

/// A root with files, a dot-directory and symlinks in and out, and a secret
/// beside it; kept for the whole run.
fn files() -> &'static (StaticFiles, PathBuf) {
    static FILES: OnceLock<(StaticFiles, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let base = std::env::temp_dir().join("otuserver-fuzz-tree");
        let root = base.join("root");
        let _ = std::fs::create_dir_all(root.join("sub/.git"));
        let _ = std::fs::write(base.join("secret"), SECRET);
        let _ = std::fs::write(root.join("index.html"), "index");
        let _ = std::fs::write(root.join("sub/file.txt"), "file");
        let _ = std::fs::write(root.join("sub/.git/config"), "config");
        let _ = std::os::unix::fs::symlink(base.join("secret"), root.join("out"));
        let _ = std::os::unix::fs::symlink(&base, root.join("sub/up"));
        let _ = std::os::unix::fs::symlink("sub", root.join("in"));
        let root = root.canonicalize().unwrap_or(root);
        let handler = StaticFiles::new(&root)
            .unwrap_or_else(|e| panic!("{e}"))
            .generate_index(true);
        (handler, root)
    })
}

fuzz_target!(|data: &[u8]| {
    let (handler, root) = files();
    let Ok(req) = http::Request::builder().uri(data).body(Bytes::new()) else {
        return;
    };
    let resp = handler.handle(req);
    match resp.body() {
        Body::File { file, .. } => {
            let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
                .unwrap_or_default();
            assert!(real.starts_with(root), "served {}", real.display());
        }
        Body::Bytes(bytes) => {
            assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET));
        }
        _ => {}
    }
});
