//! The response body: nothing, bytes in memory, a region of an open file,
//! several of those one after another, or a stream of chunks.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;

/// The body of a [`Response`](crate::Response).
///
/// Every variant but [`Body::Stream`] knows its length up front, so the
/// codec sends `Content-Length` and answers `HEAD` with exactly the headers
/// `GET` would get. A file body is sent from the open file (through
/// `sendfile` on Linux) and never read into memory. A stream's length is
/// not known: it is sent with `Transfer-Encoding: chunked` (to an HTTP/1.0
/// client: until the connection closes), produced as the client reads it.
#[derive(Default)]
#[non_exhaustive]
pub enum Body {
    /// No body at all.
    #[default]
    Empty,
    /// Bytes held in memory.
    Bytes(Bytes),
    /// `len` bytes of `file`, starting at byte `offset`. The file is shared,
    /// so several regions of one file (the parts of a multi-range answer)
    /// hold one descriptor between them.
    File {
        /// The open file.
        file: Arc<File>,
        /// Where the body starts in the file.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
    /// The bodies in order, one after another: for example the parts of a
    /// `multipart/byteranges` answer, part headers in memory and ranges
    /// from a file. Parts have known lengths: a response whose parts hold
    /// a [`Body::Stream`] has no framing that fits, and is not sent (the
    /// server closes the connection, `http1::write_response` returns an
    /// error).
    Parts(Vec<Body>),
    /// Chunks of unknown number and length, produced as the client takes
    /// them: see [`Body::stream`] and [`Body::from_reader`].
    Stream(BodyStream),
}

/// The chunks of a [`Body::Stream`]: an iterator of byte chunks, any of
/// which may be an error that ends the body (the connection is then closed
/// without the chunked body's last chunk, so the client knows the body is
/// incomplete). The server produces it on a worker-pool thread, a few
/// chunks ahead of what the client has read.
pub struct BodyStream(Box<dyn Iterator<Item = io::Result<Bytes>> + Send>);

impl Iterator for BodyStream {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

/// The size of the chunks [`Body::from_reader`] reads.
const READ_CHUNK: usize = 64 * 1024;

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body::Empty
    }

    /// The whole of `file`, whose length is `len`.
    pub fn file(file: File, len: u64) -> Self {
        Body::File {
            file: Arc::new(file),
            offset: 0,
            len,
        }
    }

    /// A body of `chunks`, of unknown length, produced as the client reads
    /// it: a CSV export row by row, a generated archive, a log.
    ///
    /// ```
    /// use otuserver_core::{Body, Bytes};
    ///
    /// let rows = (1..=3).map(|i| Ok(Bytes::from(format!("{i},{}\n", i * i))));
    /// let body = Body::stream(rows);
    /// assert_eq!(body.len(), None);
    /// ```
    pub fn stream<I>(chunks: I) -> Self
    where
        I: IntoIterator<Item = io::Result<Bytes>>,
        I::IntoIter: Send + 'static,
    {
        Body::Stream(BodyStream(Box::new(chunks.into_iter())))
    }

    /// A body read from `reader` until its end, in chunks of 64 KiB, as
    /// the client takes them. A read error ends the body early.
    pub fn from_reader<R: Read + Send + 'static>(mut reader: R) -> Self {
        let chunks = std::iter::from_fn(move || {
            let mut buf = vec![0; READ_CHUNK];
            loop {
                return match reader.read(&mut buf) {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some(Ok(Bytes::from(buf)))
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Some(Err(e)),
                };
            }
        });
        Body::stream(chunks)
    }

    /// Whether a stream sits among parts, which no framing fits: see
    /// [`Body::Parts`].
    pub(crate) fn nests_a_stream(&self) -> bool {
        match self {
            Body::Parts(parts) => parts
                .iter()
                .any(|p| matches!(p, Body::Stream(_)) || p.nests_a_stream()),
            _ => false,
        }
    }

    /// The number of bytes this body sends, or `None` for a stream, whose
    /// length is not known before it is sent.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } => Some(*len),
            Body::Parts(parts) => parts.iter().map(Body::len).sum(),
            Body::Stream(_) => None,
        }
    }

    /// Returns `true` if and only if the body is known to send no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::File { offset, len, .. } => {
                write!(f, "Body::File {{ offset: {offset}, len: {len} }}")
            }
            Body::Parts(parts) => f.debug_tuple("Body::Parts").field(parts).finish(),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Bytes(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Bytes(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Bytes(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(s))
    }
}
