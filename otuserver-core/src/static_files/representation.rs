//! A file as it is answered with: its bytes (an open file, or a copy in
//! memory), its validators, and the precompressed variants stored beside it;
//! and the response built from those for one request (validators,
//! preconditions, ranges, content coding).

use std::fs::{File, Metadata};
use std::hash::{BuildHasher, Hasher};
use std::ops::RangeInclusive;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap,
    HeaderValue, IF_RANGE, LAST_MODIFIED, VARY,
};
use http::{Method, Request, StatusCode};

use super::conditional::{self, Precondition, Validators};
use super::negotiate::{self, Coding};
use super::range::{self, Multipart, RangeRequest};
use crate::http1::fmt_http_date;
use crate::{Body, ResolveError, Response, response};

/// Where a representation's bytes are.
enum Content {
    File(Arc<File>),
    Memory(Bytes),
}

/// One stored form of a file: the original or a precompressed variant.
struct Rep {
    content: Content,
    len: u64,
    etag: HeaderValue,
    /// Whole seconds since the epoch.
    modified: Option<u64>,
    last_modified: Option<HeaderValue>,
    /// The file it was read from, as it was then.
    stamp: Stamp,
}

/// Which file, and what its entity tag depends on that can change under it:
/// device, inode, size, modification time.
pub(crate) type Stamp = (u64, u64, u64, i64, i64);

fn stamp(meta: &Metadata) -> Stamp {
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

impl Rep {
    /// The representation in `file`, stored with `coding` (`None` for the
    /// original).
    fn new(file: File, meta: &Metadata, coding: Option<Coding>) -> Rep {
        // Strong, and cheap: size and modification time to the nanosecond,
        // no content hashing. Not the inode (as nginx, and Apache's default
        // since 2.4): replicas holding copies made with their times kept
        // (rsync -a, an image) must answer the same tag for the same bytes.
        // Each coding is named in its tag, so that variants written in the
        // same instant with the same size (a .br and a .gz can be) stay
        // distinct representations.
        let coding = coding
            .map(|c| format!("-{}", c.token()))
            .unwrap_or_default();
        let etag = format!(
            "\"{:x}-{:x}.{:x}{coding}\"",
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec()
        );
        // RFC 9110 section 8.8.2.1: a modification time in the future (a
        // skewed clock, an archive) is sent as now.
        let modified = meta.modified().ok().map(|m| m.min(SystemTime::now()));
        Rep {
            content: Content::File(Arc::new(file)),
            len: meta.len(),
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            modified: modified.map(conditional::seconds),
            last_modified: modified.and_then(|m| HeaderValue::from_str(&fmt_http_date(m)).ok()),
            stamp: stamp(meta),
        }
    }

    /// A copy whose bytes are in memory, or `None` if they are not (or
    /// could not be read in full, or the file changed while being read, so
    /// that the bytes might not match the entity tag).
    fn to_memory(&self) -> Option<Rep> {
        let bytes = match &self.content {
            Content::Memory(b) => b.clone(),
            Content::File(file) => {
                let mut buf = vec![0; usize::try_from(self.len).ok()?];
                file.read_exact_at(&mut buf, 0).ok()?;
                if stamp(&file.metadata().ok()?) != self.stamp {
                    return None;
                }
                Bytes::from(buf)
            }
        };
        Some(Rep {
            content: Content::Memory(bytes),
            len: self.len,
            etag: self.etag.clone(),
            modified: self.modified,
            last_modified: self.last_modified.clone(),
            stamp: self.stamp,
        })
    }

    /// Whether its file is still as it was when opened (bytes in memory
    /// cannot change). A file rewritten in place keeps its descriptor, so an
    /// open file kept between requests is checked before each use.
    fn unchanged(&self) -> bool {
        match &self.content {
            Content::Memory(_) => true,
            Content::File(file) => file.metadata().is_ok_and(|m| stamp(&m) == self.stamp),
        }
    }

    /// The bytes of `range`, as a body: a slice of the bytes in memory, or
    /// a region of the shared file.
    fn slice(&self, range: &RangeInclusive<u64>) -> Body {
        let (start, len) = (*range.start(), range.end() - range.start() + 1);
        match &self.content {
            Content::Memory(b) => {
                let from = usize::try_from(start).unwrap_or(usize::MAX).min(b.len());
                let to = usize::try_from(start + len)
                    .unwrap_or(usize::MAX)
                    .min(b.len());
                Body::Bytes(b.slice(from..to))
            }
            Content::File(file) => Body::File {
                file: Arc::clone(file),
                offset: start,
                len,
            },
        }
    }

    /// All of it, as a body.
    fn body(&self) -> Body {
        match &self.content {
            Content::Memory(b) => Body::Bytes(b.clone()),
            Content::File(file) => Body::File {
                file: Arc::clone(file),
                offset: 0,
                len: self.len,
            },
        }
    }

    fn validators(&self) -> Validators<'_> {
        Validators {
            etag: self.etag.to_str().unwrap_or(""),
            modified: self.modified,
        }
    }
}

/// A regular file with its precompressed variants.
pub(crate) struct FileSet {
    content_type: Option<HeaderValue>,
    original: Rep,
    br: Option<Rep>,
    gzip: Option<Rep>,
}

impl FileSet {
    /// The set for the regular `file` at `rel` (below the root, opened
    /// with `open`), with its variants `rel.br` and `rel.gz` if `variants`
    /// and they are regular files no older than it.
    pub fn load(
        file: File,
        meta: &Metadata,
        rel: &Path,
        variants: bool,
        open: impl Fn(&Path) -> Result<File, ResolveError>,
    ) -> Result<FileSet, ResolveError> {
        if !meta.is_file() {
            return Err(ResolveError::Forbidden);
        }
        let mime = content_type(&mime_guess::from_path(rel).first_or_octet_stream());
        let original = Rep::new(file, meta, None);
        let variant = |coding: Coding| -> Result<Option<Rep>, ResolveError> {
            if !variants {
                return Ok(None);
            }
            let mut name = rel.as_os_str().to_owned();
            name.push(".");
            name.push(coding.extension());
            // Anything in the way (absent, outside the root, a directory,
            // stale) means no variant, never an error for the original; but
            // a set made short of descriptors would be a reduced set served
            // (and cached) as if whole.
            let file = match open(Path::new(&name)) {
                Ok(file) => file,
                Err(ResolveError::Exhausted) => return Err(ResolveError::Exhausted),
                Err(_) => return Ok(None),
            };
            let Ok(vmeta) = file.metadata() else {
                return Ok(None);
            };
            let fresh = match (vmeta.modified(), meta.modified()) {
                (Ok(v), Ok(o)) => v >= o,
                _ => false,
            };
            Ok((vmeta.is_file() && fresh).then(|| Rep::new(file, &vmeta, Some(coding))))
        };
        Ok(FileSet {
            content_type: HeaderValue::from_str(&mime).ok(),
            br: variant(Coding::Br)?,
            gzip: variant(Coding::Gzip)?,
            original,
        })
    }

    /// The files this set was made from, as they were, and the type it is
    /// served as: two sets with the same identity answer alike.
    pub fn identity(&self) -> ([Option<Stamp>; 3], Option<HeaderValue>) {
        let stamps = [
            Some(self.original.stamp),
            self.br.as_ref().map(|r| r.stamp),
            self.gzip.as_ref().map(|r| r.stamp),
        ];
        (stamps, self.content_type.clone())
    }

    /// The original and the variants there are.
    fn reps(&self) -> impl Iterator<Item = &Rep> {
        [Some(&self.original), self.br.as_ref(), self.gzip.as_ref()]
            .into_iter()
            .flatten()
    }

    /// How many files it holds open.
    pub fn descriptors(&self) -> usize {
        self.reps()
            .filter(|r| matches!(r.content, Content::File(_)))
            .count()
    }

    /// Whether every file it holds open is as it was when opened.
    pub fn unchanged(&self) -> bool {
        self.reps().all(Rep::unchanged)
    }

    /// Every representation's length, for the cache to decide.
    pub fn lens(&self) -> impl Iterator<Item = u64> + '_ {
        self.reps().map(|r| r.len)
    }

    /// A copy with every representation in memory, if they could all be
    /// read.
    pub fn to_memory(&self) -> Option<FileSet> {
        Some(FileSet {
            content_type: self.content_type.clone(),
            original: self.original.to_memory()?,
            br: match &self.br {
                Some(r) => Some(r.to_memory()?),
                None => None,
            },
            gzip: match &self.gzip {
                Some(r) => Some(r.to_memory()?),
                None => None,
            },
        })
    }

    fn variant(&self, coding: Coding) -> Option<&Rep> {
        match coding {
            Coding::Br => self.br.as_ref(),
            Coding::Gzip => self.gzip.as_ref(),
        }
    }

    fn pick(&self, coding: Option<Coding>) -> &Rep {
        coding
            .and_then(|c| self.variant(c))
            .unwrap_or(&self.original)
    }

    /// The answer to `req` (a `GET` or `HEAD`) from this set.
    pub fn respond<B>(&self, req: &Request<B>, cache_control: Option<&HeaderValue>) -> Response {
        let headers = req.headers();
        let coding = negotiate::choose(headers, |c| self.variant(c).is_some());
        let has_variants = self.br.is_some() || self.gzip.is_some();
        let content_type = self.content_type.as_ref();
        let rep = self.pick(coding);

        // What every answer about this file carries, 304 included.
        let mut common = HeaderMap::with_capacity(8);
        common.insert(ETAG, rep.etag.clone());
        if let Some(lm) = &rep.last_modified {
            common.insert(LAST_MODIFIED, lm.clone());
        }
        if has_variants {
            common.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if let Some(cc) = cache_control {
            common.insert(CACHE_CONTROL, cc.clone());
        }

        match conditional::evaluate(headers, rep.validators()) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                let mut resp = Response::new(Body::Empty);
                *resp.status_mut() = StatusCode::NOT_MODIFIED;
                *resp.headers_mut() = common;
                return resp;
            }
            Precondition::Failed => {
                return with_vary(
                    response::status_page(StatusCode::PRECONDITION_FAILED),
                    has_variants,
                );
            }
        }

        // RFC 9110 section 14.2: `Range` means something to `GET` only;
        // `HEAD` gets the head of the whole answer.
        let ranges = if req.method() == Method::GET
            && conditional::if_range_holds(headers, rep.validators())
        {
            range::parse(headers, rep.len)
        } else {
            RangeRequest::Whole
        };
        // A multipart body under `Content-Encoding` would be decoded whole
        // by clients that decode automatically: send the variant whole.
        let ranges = match ranges {
            RangeRequest::Ranges(r) if r.len() > 1 && coding.is_some() => RangeRequest::Whole,
            other => other,
        };
        common.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(c) = coding {
            common.insert(CONTENT_ENCODING, HeaderValue::from_static(c.token()));
        }
        let len = rep.len;
        match ranges {
            RangeRequest::Whole => {
                if let Some(ct) = content_type {
                    common.insert(CONTENT_TYPE, ct.clone());
                }
                let mut resp = Response::new(rep.body());
                *resp.headers_mut() = common;
                resp
            }
            RangeRequest::Unsatisfiable => {
                let mut resp = response::status_page(StatusCode::RANGE_NOT_SATISFIABLE);
                resp.headers_mut()
                    .insert(CONTENT_RANGE, header(&format!("bytes */{len}")));
                with_vary(resp, has_variants)
            }
            RangeRequest::Ranges(ranges) => {
                // RFC 9110 section 15.3.7: a 206 answering `If-Range` goes to
                // a client that holds the representation's metadata already,
                // so it leaves that out (and keeps `ETag`, `Vary`,
                // `Cache-Control`, which a 200 would carry, as required).
                // `Content-Encoding` stays: the bytes are meaningless without
                // it to anyone who did not see the first answer.
                let resumed = headers.contains_key(IF_RANGE);
                if resumed {
                    common.remove(LAST_MODIFIED);
                }
                let metadata = if resumed { None } else { content_type };
                with_headers(partial(rep, &ranges, content_type, metadata), common)
            }
        }
    }
}

/// The `Content-Type` for a file of type `mime`. Browsers read plain text
/// without a charset as windows-1252, which turns UTF-8 (nearly all text on
/// the web) into mojibake, so text gets `charset=utf-8`. HTML, CSS and
/// JavaScript go bare: a page names its own encoding (`<meta charset>`,
/// else the browser sniffs it), and stylesheets and scripts take the page's
/// (WHATWG Encoding, HTML), so a charset here could only contradict the file;
/// and the classic test suite expects exactly `text/html` and `text/css`.
fn content_type(mime: &mime::Mime) -> String {
    let names_own = matches!(mime.subtype().as_str(), "html" | "css" | "javascript");
    if mime.type_() == mime::TEXT && !names_own && mime.get_param(mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// `206 Partial Content` for `ranges` of `rep`: one range as itself, several
/// as `multipart/byteranges` (each part naming `content_type`). File ranges
/// stay file regions, for sendfile. A single range carries `header_type`
/// as its `Content-Type`.
fn partial(
    rep: &Rep,
    ranges: &[RangeInclusive<u64>],
    content_type: Option<&HeaderValue>,
    header_type: Option<&HeaderValue>,
) -> Response {
    let mut resp = if let [only] = ranges {
        let mut resp = Response::new(rep.slice(only));
        resp.headers_mut()
            .insert(CONTENT_RANGE, header(&range::content_range(only, rep.len)));
        if let Some(ct) = header_type {
            resp.headers_mut().insert(CONTENT_TYPE, ct.clone());
        }
        resp
    } else {
        let boundary = boundary();
        let layout = Multipart {
            boundary: &boundary,
            content_type: content_type.and_then(|ct| ct.to_str().ok()),
            len: rep.len,
        };
        let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
        for (i, r) in ranges.iter().enumerate() {
            parts.push(Body::from(layout.part_head(r, i == 0)));
            parts.push(rep.slice(r));
        }
        parts.push(Body::from(layout.tail()));
        let mut resp = Response::new(Body::Parts(parts));
        resp.headers_mut().insert(
            CONTENT_TYPE,
            header(&format!("multipart/byteranges; boundary={boundary}")),
        );
        resp
    };
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    resp
}

/// A boundary no file is likely to hold: 128 random bits (from the keys
/// the standard library seeds its hash maps with).
fn boundary() -> String {
    let random = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("otuserver-{:016x}{:016x}", random(), random())
}

fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// An error answer about a file says only whether it varies.
fn with_vary(mut resp: Response, varies: bool) -> Response {
    if varies {
        resp.headers_mut()
            .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    resp
}

fn with_headers(mut resp: Response, headers: HeaderMap) -> Response {
    resp.headers_mut().extend(headers);
    resp
}
