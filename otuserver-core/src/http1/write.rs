//! Writing a response: status line, headers, body.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use http::StatusCode;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};

use crate::http1::date;
use crate::{Body, Response};

/// The `Server` header every response carries unless the handler set one.
pub const SERVER_NAME: &str = concat!("otuserver/", env!("CARGO_PKG_VERSION"));

/// In-memory bodies up to this size go out in the same write as the head.
const COALESCE_LIMIT: usize = 16 * 1024;

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

/// A response turned into bytes: what to send, in order.
#[derive(Debug)]
#[non_exhaustive]
pub struct Encoded {
    /// The status line and headers, followed by the body when it is small
    /// and in memory.
    pub head: Vec<u8>,
    /// What goes after `head`: [`Body::Empty`] when `head` holds it all.
    pub rest: Body,
    /// How many body bytes the response sends in all (in `head` and
    /// `rest`); `0` for `HEAD` and bodiless statuses.
    pub body_len: u64,
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
    if !send_body {
        return Encoded {
            head,
            rest: Body::Empty,
            body_len: 0,
        };
    }
    let body_len = body.len();
    let rest = match body {
        Body::Bytes(bytes) if bytes.len() <= COALESCE_LIMIT => {
            head.extend_from_slice(&bytes);
            Body::Empty
        }
        other => other,
    };
    Encoded {
        head,
        rest,
        body_len,
    }
}

/// Writes `resp` to `w` and returns how many body bytes were sent.
///
/// See [`encode`] for the headers. A file body is copied through a buffer
/// with [`copy_file`]. A file that turns out shorter than its stated length
/// gives an `UnexpectedEof` error, after which the connection must be
/// closed.
pub fn write_response<W: Write>(w: &mut W, resp: Response, opts: WriteOptions) -> io::Result<u64> {
    let encoded = encode(resp, opts);
    w.write_all(&encoded.head)?;
    write_body(w, encoded.rest)?;
    Ok(encoded.body_len)
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
