//! Writing a response: status line, headers, body.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use http::StatusCode;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};

use crate::http1::date;
use crate::{Body, Response};

/// How much of a response [`write_response`] gathers before writing.
const WRITE_BUFFER: usize = 16 * 1024;

/// The `Server` header every response carries unless the handler set one.
pub const SERVER_NAME: &str = concat!("otuserver/", env!("CARGO_PKG_VERSION"));

/// How to write one response.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Send the headers only, as the answer to `HEAD`.
    pub head_only: bool,
    /// Tell the client the connection stays open (`Connection: keep-alive`)
    /// or closes (`Connection: close`).
    pub keep_alive: bool,
    /// The client reads `Transfer-Encoding: chunked` (it sent HTTP/1.1),
    /// so a body of unknown length can be chunked rather than end with the
    /// connection.
    pub chunked: bool,
}

impl WriteOptions {
    /// Options for a response to a request that was or was not `HEAD`, on a
    /// connection that is or is not kept open, to an HTTP/1.1 client.
    pub fn new(head_only: bool, keep_alive: bool) -> Self {
        WriteOptions {
            head_only,
            keep_alive,
            chunked: true,
        }
    }

    /// These options for a client that does (HTTP/1.1) or does not
    /// (HTTP/1.0) read chunked bodies.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.chunked = chunked;
        self
    }
}

/// Statuses whose responses never carry a body or `Content-Length`
/// (RFC 9110 sections 8.6 and 15).
fn bodiless(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// A response turned into what to send: the head's bytes, then the body
/// ([`Body::Empty`] for `HEAD` and bodiless statuses). A sender may join a
/// small body to the head; nothing here decides that.
#[derive(Debug)]
pub struct Encoded {
    head: Vec<u8>,
    body: Body,
    framing: Framing,
    keep_alive: bool,
}

/// How the receiver finds the end of the body that follows a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// By `Content-Length`, or there is no body.
    Length,
    /// By the chunked encoding's last chunk: the sender frames each chunk.
    Chunked,
    /// By the end of the connection, which must then close.
    Close,
}

impl Encoded {
    /// Whether the head told the client the connection stays open (asked
    /// for, and the body does not end with the connection).
    pub fn keeps_alive(&self) -> bool {
        self.keep_alive
    }

    /// How the body's end is marked.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The status line and header fields, with the blank line after them.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// What follows the head.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The head's bytes and the body, to send in that order.
    pub fn into_parts(self) -> (Vec<u8>, Body) {
        (self.head, self.body)
    }
}

/// Encodes `resp` for sending.
///
/// The codec owns `Date`, `Content-Length`, `Connection` and
/// `Transfer-Encoding`: values the handler set for them are replaced or
/// dropped. A body of known length gets `Content-Length`, even for `HEAD`,
/// whose body is not sent; `204`, `304` and `1xx` carry neither. A stream
/// gets `Transfer-Encoding: chunked`, or, when the client cannot read that
/// (`opts.chunked` false), no length and `Connection: close`.
pub fn encode(resp: Response, opts: WriteOptions) -> Encoded {
    let (parts, body) = resp.into_parts();
    let send_body = !opts.head_only && !bodiless(parts.status);
    // Room for the fields and for a body of up to about half a KiB joined
    // to them later, so that such a response's buffer is allocated once: a
    // regrowth cost 1% of a small file's CPU time.
    let fields: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let mut head = Vec::with_capacity(fields + 640);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(
        parts
            .status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    head.extend_from_slice(b"\r\n");
    date::with_now(|now| {
        head.extend_from_slice(b"Date: ");
        head.extend_from_slice(now.as_bytes());
        head.extend_from_slice(b"\r\n");
    });
    if !parts.headers.contains_key(SERVER) {
        head.extend_from_slice(b"Server: ");
        head.extend_from_slice(SERVER_NAME.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    for (name, value) in &parts.headers {
        if name == DATE || name == CONTENT_LENGTH || name == CONNECTION || name == TRANSFER_ENCODING
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let mut framing = Framing::Length;
    if !bodiless(parts.status) {
        match body.len() {
            Some(len) => {
                // Formatted into the head itself: no string of its own.
                let _ = write!(head, "Content-Length: {len}\r\n");
            }
            None if opts.chunked => {
                head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                framing = Framing::Chunked;
            }
            None => framing = Framing::Close,
        }
    }
    if !send_body {
        // The head describes the body a GET would get; none follows.
        framing = Framing::Length;
    }
    let keep_alive = opts.keep_alive && framing != Framing::Close;
    head.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    let body = if send_body { body } else { Body::Empty };
    Encoded {
        head,
        body,
        framing,
        keep_alive,
    }
}

/// Writes `resp` to `w`, flushed, and returns how many body bytes were
/// sent.
///
/// See [`encode`] for the headers. Writes go through a buffer, so a head
/// and a small body reach `w` in one write (on a `TcpStream`, two small
/// writes would wait for the peer's acknowledgement: Nagle's algorithm); a
/// file body is copied through it with [`copy_file`]. A file that turns out
/// shorter than its stated length gives an `UnexpectedEof` error, after
/// which the connection must be closed. A stream among [`Body::Parts`] is
/// an `InvalidInput` error, before anything is written.
pub fn write_response<W: Write>(w: &mut W, resp: Response, opts: WriteOptions) -> io::Result<u64> {
    if resp.body().nests_a_stream() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a streamed body inside parts: no framing fits",
        ));
    }
    let encoded = encode(resp, opts);
    let chunked = encoded.framing == Framing::Chunked;
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, w);
    w.write_all(&encoded.head)?;
    let sent = write_body(&mut w, encoded.body, chunked)?;
    if chunked {
        w.write_all(LAST_CHUNK)?;
    }
    w.flush()?;
    Ok(sent)
}

/// Writes `body`, its stream's chunks framed if `chunked`; the body bytes
/// written.
fn write_body<W: Write>(w: &mut W, body: Body, chunked: bool) -> io::Result<u64> {
    Ok(match body {
        Body::Empty => 0,
        Body::Bytes(bytes) => {
            w.write_all(&bytes)?;
            bytes.len() as u64
        }
        Body::File { file, offset, len } => copy_file(w, &file, offset, len)?,
        Body::Parts(parts) => {
            let mut sent = 0;
            for part in parts {
                sent += write_body(w, part, chunked)?;
            }
            sent
        }
        Body::Stream(chunks) => {
            let mut sent = 0;
            for chunk in chunks {
                let chunk = chunk?;
                if chunk.is_empty() {
                    continue;
                }
                if chunked {
                    write_chunk(w, &chunk)?;
                } else {
                    w.write_all(&chunk)?;
                }
                sent += chunk.len() as u64;
            }
            sent
        }
    })
}

/// The last chunk of a chunked body, with no trailer fields.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes `bytes` to `w` as one chunk of a chunked body (into a `Vec`, it
/// cannot fail).
pub(crate) fn write_chunk<W: Write>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    write!(w, "{:x}\r\n", bytes.len())?;
    w.write_all(bytes)?;
    w.write_all(b"\r\n")
}

/// Copies `len` bytes of `file` from `offset` into `w` through a buffer.
///
/// Returns `UnexpectedEof` if the file ends first.
pub fn copy_file<W: Write>(w: &mut W, file: &File, offset: u64, len: u64) -> io::Result<u64> {
    // Positioned reads: one open file may be shared by responses being
    // written at the same time (the static files' open-file cache).
    let mut buf = vec![0; usize::try_from(len.min(64 * 1024)).unwrap_or(64 * 1024)];
    let mut sent = 0;
    while sent < len {
        let at = offset
            .checked_add(sent)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file offset overflows"))?;
        let want = usize::try_from(len - sent).map_or(buf.len(), |left| left.min(buf.len()));
        let n = match file.read_at(&mut buf[..want], at) {
            Ok(0) => return Err(shrank(sent, len)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        sent += n as u64;
    }
    Ok(sent)
}

/// The error for a file that ended before its stated length.
pub(crate) fn shrank(sent: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("file shrank while sending: {sent} of {len} bytes"),
    )
}
