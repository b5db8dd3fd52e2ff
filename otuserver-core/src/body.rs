//! The response body: nothing, bytes in memory, a region of an open file, or
//! several of those one after another.

use std::fmt;
use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

/// The body of a [`Response`](crate::Response).
///
/// Every variant knows its length up front, so the codec can always send
/// `Content-Length` and answer `HEAD` with exactly the headers `GET` would get.
/// A file body is streamed from the open file (through `sendfile` on Linux)
/// and never read into memory.
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
    /// from a file.
    Parts(Vec<Body>),
}

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

    /// The number of bytes this body sends.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
            Body::Parts(parts) => parts.iter().map(Body::len).sum(),
        }
    }

    /// Returns `true` if and only if the body sends no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
