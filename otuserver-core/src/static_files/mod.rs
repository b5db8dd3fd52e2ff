//! The static-files handler: serves a directory tree over GET and HEAD.

mod cache;
mod conditional;
mod listing;
mod negotiate;
mod pages;
mod range;
mod representation;
mod resolve;
mod root;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::header::{ALLOW, CACHE_CONTROL, HeaderValue};
use http::{Method, StatusCode};

use crate::path::{self, RequestPath};
use crate::{Error, Handler, Needs, Request, ResolveError, Response, response};
use representation::FileSet;

/// The most files static files keep open between requests.
#[cfg(feature = "server")]
pub(crate) const OPEN_FILES: usize = cache::MAX_DESCRIPTORS;

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
/// * File responses carry `Last-Modified`, a strong `ETag` (size and
///   modification time, the same on replicas of the tree) and `Accept-Ranges: bytes`, and follow RFC
///   9110 for conditional requests (`304`, `412`, in the order of its
///   section 13.2.2) and ranges (`206`, `multipart/byteranges` for several,
///   `416`, `If-Range`); a range of a file stays a file region, so it is
///   sent with `sendfile`.
/// * Dotfiles (any segment starting with `.`) are `404` and not listed,
///   save `/.well-known/`, unless [`StaticFiles::allow_dotfiles`].
/// * `NAME.br` / `NAME.gz` are served for `NAME` to clients that accept them
///   (see [`StaticFiles::precompressed`]).
///
/// ```
/// use otuserver_core::{Bytes, Handler, StaticFiles, http};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir();
/// let files = StaticFiles::new(&dir)?.generate_index(true);
/// let req = http::Request::builder().uri("/").header("host", "x").body(Bytes::new())?;
/// assert_eq!(files.handle(req).status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
    /// The root directory, open: paths are opened relative to it.
    root_dir: Arc<root::Root>,
    index: String,
    generate_index: bool,
    precompressed: bool,
    allow_dotfiles: bool,
    pages: pages::Pages,
    cache_control: Option<HeaderValue>,
    cache: Arc<cache::FileCache>,
}

/// What a path leads to.
enum Found {
    /// A file, to answer from with validators and ranges.
    File(Box<FileSet>),
    /// A finished answer: a redirect or a generated listing.
    Page(Response),
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
        let root_dir = Arc::new(
            root::Root::open(root.clone(), StaticFiles::DEFAULT_CACHE_TTL).map_err(doc_root)?,
        );
        Ok(StaticFiles {
            root,
            root_dir,
            index: "index.html".to_owned(),
            generate_index: false,
            precompressed: true,
            allow_dotfiles: false,
            pages: pages::Pages::default(),
            cache_control: None,
            cache: Arc::new(cache::FileCache::new(StaticFiles::DEFAULT_CACHE_TTL)),
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

    /// Turns precompressed variants on or off (default on). When on, and
    /// the client accepts `br` or `gzip`, `NAME.br` or `NAME.gz` beside
    /// `NAME` is served in its place with `Content-Encoding`, if it is a
    /// regular file no older than `NAME`; every response about a file with
    /// such a variant carries `Vary: Accept-Encoding`.
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        // The cache holds file sets found with the old setting.
        self.cache = Arc::new(cache::FileCache::new(self.cache.ttl()));
        self
    }

    /// Serves and lists dotfiles (`.env`, `.git/`, any path segment that
    /// starts with `.`) when `true`. By default they are `404` and left out
    /// of listings, except `/.well-known/` (RFC 8615) and what lies in it
    /// that is not itself a dotfile.
    pub fn allow_dotfiles(mut self, on: bool) -> Self {
        self.allow_dotfiles = on;
        self
    }

    /// Serves `page` (a file under the root, such as `index.html`) with
    /// `200` for a `GET` or `HEAD` of a missing path that has no extension,
    /// from a client whose `Accept` names `text/html`: a single-page app's
    /// routes. A missing asset (`/app.js`), a dotfile, another method or a
    /// client that does not ask for HTML still gets `404`. The page is
    /// served as itself: validators, conditions and ranges apply. Default
    /// none.
    pub fn fallback(mut self, page: &str) -> Self {
        self.pages.set_fallback(page);
        self
    }

    /// Answers errors with `status` (`404`, any `4xx` or `5xx` this handler
    /// gives) with the body of `page`, a file under the root; the status and
    /// the error's headers (`Allow`, `Retry-After`) stay. If the page cannot
    /// be served, the built-in one is. Default none.
    pub fn error_page(mut self, status: StatusCode, page: &str) -> Self {
        self.pages.set_error(status, page);
        self
    }

    /// Sets a `Cache-Control` header for file and listing responses
    /// (`200`, `206`, `304`); by default there is none.
    pub fn cache_control(mut self, value: HeaderValue) -> Self {
        self.cache_control = Some(value);
        self
    }

    /// How long small files are served from memory unless
    /// [`cache_ttl`](StaticFiles::cache_ttl) says otherwise: 1 s.
    pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

    /// Sets how long a small file (up to 16 KiB) read from disk is served
    /// from memory before it is read again (default
    /// [`DEFAULT_CACHE_TTL`](StaticFiles::DEFAULT_CACHE_TTL), 1 s; zero
    /// turns the cache off). A file changed on disk is served fresh at most
    /// this long after, and so is a new tree put in the root's place (a
    /// root that is gone is `503` until it is back).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache = Arc::new(cache::FileCache::new(ttl));
        // The root is looked at again as often: a tree replaced under its
        // path is served at most this late.
        self.root_dir = Arc::new(self.root_dir.with_recheck(ttl));
        self
    }

    /// The canonical document root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn serve(&self, req: &Request) -> Result<Response, ResolveError> {
        let path = path::decode(req.uri().path())?;
        if !self.allow_dotfiles && path.is_hidden() {
            // 404, not 403: whether such a file exists is not told either.
            return Err(ResolveError::NotFound);
        }
        self.serve_path(req, &path)
    }

    fn serve_path(&self, req: &Request, path: &RequestPath) -> Result<Response, ResolveError> {
        let set = match self.cache.get(path) {
            Some(set) => set,
            None => match self.find(req, path)? {
                Found::File(set) => self.cache.keep(path, *set),
                Found::Page(resp) => return Ok(resp),
            },
        };
        Ok(set.respond(req, self.cache_control.as_ref()))
    }

    fn find(&self, req: &Request, path: &RequestPath) -> Result<Found, ResolveError> {
        let rel = path.relative();
        let root_dir = self.root_dir.dir()?;
        let file = resolve::open_beneath(&root_dir, &self.root, &rel)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            self.find_in_dir(req, path, &rel, &file, &root_dir)
        } else if path.trailing_slash {
            Err(ResolveError::NotFound)
        } else {
            self.load(file, &meta, &rel, &root_dir)
        }
    }

    fn load(
        &self,
        file: File,
        meta: &fs::Metadata,
        rel: &Path,
        root_dir: &File,
    ) -> Result<Found, ResolveError> {
        let open = |name: &Path| resolve::open_beneath(root_dir, &self.root, name);
        FileSet::load(file, meta, rel, self.precompressed, open)
            .map(|set| Found::File(Box::new(set)))
    }

    fn find_in_dir(
        &self,
        req: &Request,
        path: &RequestPath,
        rel: &Path,
        dir: &File,
        root_dir: &File,
    ) -> Result<Found, ResolveError> {
        if !path.trailing_slash {
            // Under a Router mount the client's path starts with the
            // prefix the handler never saw.
            let redirect = path::redirect(req, &path.to_url(true));
            return Ok(Found::Page(redirect));
        }
        let index = rel.join(&self.index);
        match resolve::open_beneath(root_dir, &self.root, &index) {
            Ok(file) => {
                let meta = file.metadata()?;
                if meta.is_file() {
                    return self.load(file, &meta, &index, root_dir);
                }
            }
            Err(ResolveError::NotFound) => {}
            Err(e) => return Err(e),
        }
        if !self.generate_index {
            return Err(ResolveError::NotFound);
        }
        let json = negotiate::prefers_json(req.headers());
        let dotfiles = self.allow_dotfiles;
        let page = listing::render(dir, rel, root_dir, &self.root, path, dotfiles, json)?;
        let mut resp = match json {
            true => response::json(page),
            false => response::html(page),
        };
        // The same URL answers HTML or JSON by the request's Accept.
        resp.headers_mut()
            .insert(http::header::VARY, HeaderValue::from_static("Accept"));
        if let Some(cc) = &self.cache_control {
            resp.headers_mut().insert(CACHE_CONTROL, cc.clone());
        }
        Ok(Found::Page(resp))
    }
}

impl StaticFiles {
    /// The answer to `req` before fallback and error pages.
    fn answer(&self, req: &Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = response::status_page(StatusCode::METHOD_NOT_ALLOWED);
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        self.answered(req, self.serve(req))
    }

    /// `result` as a response: an error as its status page.
    fn answered(&self, req: &Request, result: Result<Response, ResolveError>) -> Response {
        match result {
            Ok(resp) => resp,
            Err(e) => {
                match &e {
                    ResolveError::Io(io) => log::error!("serving {}: {io}", req.uri().path()),
                    ResolveError::Exhausted => crate::shortage::count(),
                    _ => {}
                }
                let mut resp = response::status_page(e.status());
                if let ResolveError::Exhausted | ResolveError::RootGone = e {
                    resp.headers_mut()
                        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                resp
            }
        }
    }
}

impl Handler for StaticFiles {
    fn handle(&self, req: Request) -> Response {
        let mut resp = self.answer(&req);
        if let Some(page) = self.pages.fallback_for(&req, &resp) {
            // Served as the file itself: its validators, conditions, ranges.
            resp = self.answered(&req, self.serve_path(&req, page));
        }
        if let Some(page) = self.pages.error_for(resp.status()) {
            let found = pages::plain_get(page).map(|get| self.serve_path(&get, page));
            match found {
                Some(Ok(body)) if body.status() == StatusCode::OK => {
                    resp = pages::with_page(resp, body);
                }
                _ => log::warn!("error page {} could not be served", page.to_url(false)),
            }
        }
        resp
    }

    /// It only opens and stats files, so it runs on the event loop; it
    /// reads no bodies (a body sent to it is dropped or left unread), and
    /// answers every client alike.
    fn needs(&self, _req: &Request) -> Needs {
        Needs::NOTHING
    }
}
