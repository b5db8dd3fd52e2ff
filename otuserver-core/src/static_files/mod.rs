//! The static-files handler: serves a directory tree over GET and HEAD.

mod cache;
mod listing;
mod resolve;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, LAST_MODIFIED};
use http::{Method, StatusCode};

use crate::http1::fmt_http_date;
use crate::{Body, Error, Handler, Request, ResolveError, Response, response};
use resolve::RequestPath;

/// How long small files are served from memory by default.
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Serves the files under a document root.
///
/// * `GET` and `HEAD` only; anything else is `405` with `Allow: GET, HEAD`.
/// * The path is percent-decoded once and its `.`/`..` segments resolved
///   without climbing above the root; the query is ignored. The file's real
///   path (symlinks followed) must lie inside the root, else `403`.
/// * A directory asked for without a trailing slash is redirected (`301`)
///   to the slash form; with the slash, its index file is served, or a
///   generated listing if enabled, or `404`.
/// * A file asked for with a trailing slash is `404`; an unreadable one or
///   anything that is not a regular file is `403`.
///
/// ```
/// use otuserver_core::{Handler, Request, StaticFiles};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir();
/// let files = StaticFiles::new(&dir)?.generate_index(true);
/// let req = Request::builder().uri("/").header("host", "x").body(())?;
/// assert_eq!(files.handle(req).status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
    /// The root directory, open: paths are opened relative to it.
    root_dir: Arc<File>,
    index: String,
    generate_index: bool,
    cache: Arc<cache::FileCache>,
}

impl StaticFiles {
    /// A handler for the tree under `root`, which must be a readable
    /// directory. The index file is `index.html`; listings are off.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, Error> {
        let given = root.as_ref();
        let doc_root = |source| Error::DocRoot {
            path: given.to_path_buf(),
            source,
        };
        let root = given.canonicalize().map_err(doc_root)?;
        let meta = fs::metadata(&root).map_err(doc_root)?;
        if !meta.is_dir() {
            return Err(doc_root(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        fs::read_dir(&root).map_err(doc_root)?;
        let root_dir = Arc::new(File::open(&root).map_err(doc_root)?);
        Ok(StaticFiles {
            root,
            root_dir,
            index: "index.html".to_owned(),
            generate_index: false,
            cache: Arc::new(cache::FileCache::new(DEFAULT_CACHE_TTL)),
        })
    }

    /// Sets the file served for a directory (default `index.html`).
    pub fn index_file(mut self, name: impl Into<String>) -> Self {
        self.index = name.into();
        // A clone keeps its original's cache, which holds the old index.
        self.cache = Arc::new(cache::FileCache::new(self.cache.ttl()));
        self
    }

    /// Turns generated listings for directories without an index file on or
    /// off (default off).
    pub fn generate_index(mut self, on: bool) -> Self {
        self.generate_index = on;
        self
    }

    /// Sets how long a small file (up to 16 KiB) read from disk is served
    /// from memory before it is read again (default 1 s; zero turns the
    /// cache off). A file changed on disk is served fresh at most this long
    /// after.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache = Arc::new(cache::FileCache::new(ttl));
        self
    }

    /// The canonical document root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn serve(&self, req: &Request) -> Result<Response, ResolveError> {
        let path = resolve::decode(req.uri().path())?;
        if let Some(resp) = self.cache.get(&path) {
            return Ok(resp);
        }
        let resp = self.serve_from_disk(req, &path)?;
        Ok(self.cache.keep(&path, resp))
    }

    fn serve_from_disk(&self, req: &Request, path: &RequestPath) -> Result<Response, ResolveError> {
        let rel = path.relative();
        let file = resolve::open_beneath(&self.root_dir, &self.root, &rel)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            self.serve_dir(req, path, &rel, &file)
        } else if path.trailing_slash {
            Err(ResolveError::NotFound)
        } else {
            file_response(file, &meta, &rel)
        }
    }

    fn serve_dir(
        &self,
        req: &Request,
        path: &RequestPath,
        rel: &Path,
        dir: &File,
    ) -> Result<Response, ResolveError> {
        if !path.trailing_slash {
            let mut location = path.to_url(true);
            if let Some(query) = req.uri().query() {
                // Raw bytes above 0x7f are legal in a request-target but not
                // in a header value.
                location.push('?');
                location.extend(percent_encoding::utf8_percent_encode(
                    query,
                    percent_encoding::CONTROLS,
                ));
            }
            return Ok(response::redirect(StatusCode::MOVED_PERMANENTLY, &location));
        }
        let index = rel.join(&self.index);
        match resolve::open_beneath(&self.root_dir, &self.root, &index) {
            Ok(file) => {
                let meta = file.metadata()?;
                if meta.is_file() {
                    return file_response(file, &meta, &index);
                }
            }
            Err(ResolveError::NotFound) => {}
            Err(e) => return Err(e),
        }
        if !self.generate_index {
            return Err(ResolveError::NotFound);
        }
        let page = listing::render(dir, rel, &self.root_dir, &self.root, path)?;
        Ok(response::html(page))
    }
}

/// `200 OK` with the open regular `file` as the body, typed by the
/// extension of `name`.
fn file_response(file: File, meta: &fs::Metadata, name: &Path) -> Result<Response, ResolveError> {
    if !meta.is_file() {
        return Err(ResolveError::Forbidden);
    }
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let mut resp = Response::new(Body::file(file, meta.len()));
    let headers = resp.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(CONTENT_TYPE, value);
    }
    if let Ok(modified) = meta.modified() {
        if let Ok(value) = HeaderValue::from_str(&fmt_http_date(modified)) {
            headers.insert(LAST_MODIFIED, value);
        }
    }
    Ok(resp)
}

impl Handler for StaticFiles {
    fn handle(&self, req: Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = response::status_page(StatusCode::METHOD_NOT_ALLOWED);
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        match self.serve(&req) {
            Ok(resp) => resp,
            Err(e) => {
                if let ResolveError::Io(io) = &e {
                    log::error!("serving {}: {io}", req.uri().path());
                }
                response::status_page(e.status())
            }
        }
    }
}
