//! Writing a response: status line, headers, body.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

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
}

impl WriteOptions {
    /// Options for a response to a request that was or was not `HEAD`, on a
    /// connection that is or is not kept open.
    pub fn new(head_only: bool, keep_alive: bool) -> Self {
        WriteOptions {
            head_only,
            keep_alive,
        }
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
}

impl Encoded {
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
/// `Transfer-Encoding` (it always sends a length): values the handler set
/// for them are replaced or dropped. `Content-Length` is the body's length
/// even for `HEAD`, whose body is not sent; `204`, `304` and `1xx` carry
/// neither.
pub fn encode(resp: Response, opts: WriteOptions) -> Encoded {
    let (parts, body) = resp.into_parts();
    let send_body = !opts.head_only && !bodiless(parts.status);
    let mut head = Vec::with_capacity(256);
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
    if !bodiless(parts.status) {
        head.extend_from_slice(b"Content-Length: ");
        head.extend_from_slice(body.len().to_string().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(if opts.keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    let body = if send_body { body } else { Body::Empty };
    Encoded { head, body }
}

/// Writes `resp` to `w`, flushed, and returns how many body bytes were
/// sent.
///
/// See [`encode`] for the headers. Writes go through a buffer, so a head
/// and a small body reach `w` in one write (on a `TcpStream`, two small
/// writes would wait for the peer's acknowledgement: Nagle's algorithm); a
/// file body is copied through it with [`copy_file`]. A file that turns out
/// shorter than its stated length gives an `UnexpectedEof` error, after
/// which the connection must be closed.
pub fn write_response<W: Write>(w: &mut W, resp: Response, opts: WriteOptions) -> io::Result<u64> {
    let (head, body) = encode(resp, opts).into_parts();
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, w);
    w.write_all(&head)?;
    let len = body.len();
    write_body(&mut w, body)?;
    w.flush()?;
    Ok(len)
}

fn write_body<W: Write>(w: &mut W, body: Body) -> io::Result<()> {
    match body {
        Body::Empty => {}
        Body::Bytes(bytes) => w.write_all(&bytes)?,
        Body::File { file, offset, len } => {
            copy_file(w, &file, offset, len)?;
        }
        Body::Parts(parts) => {
            for part in parts {
                write_body(w, part)?;
            }
        }
    }
    Ok(())
}

/// Copies `len` bytes of `file` from `offset` into `w` through a buffer.
///
/// Returns `UnexpectedEof` if the file ends first.
pub fn copy_file<W: Write>(w: &mut W, file: &File, offset: u64, len: u64) -> io::Result<u64> {
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    let sent = io::copy(&mut file.take(len), w)?;
    if sent < len {
        return Err(shrank(sent, len));
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
