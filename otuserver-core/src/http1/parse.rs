//! Reading a request head: bytes in, an `http::Request` or a typed error out.

use std::io::{self, Read};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

use crate::RequestError;

/// The most header fields one request may carry.
pub const MAX_HEADERS: usize = 100;

/// The longest request-target accepted; `http::Uri` refuses longer ones.
pub const MAX_URI_LEN: usize = 65_534;

/// Bounds on reading a request head.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HeadLimits {
    /// The most bytes a head (request line and header fields, with the blank
    /// line) may take; past it the request is refused with 431, or 414 when
    /// the request line alone does not fit.
    pub max_head_size: usize,
    /// How many bytes to ask the reader for at a time.
    pub chunk_size: usize,
}

/// The most bytes a request head may take by default.
pub(crate) const DEFAULT_MAX_HEAD_SIZE: usize = 4096;
/// How many bytes a read asks for by default.
pub(crate) const DEFAULT_CHUNK_SIZE: usize = 1024;

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head_size: DEFAULT_MAX_HEAD_SIZE,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

impl HeadLimits {
    /// Limits of `max_head_size` bytes read `chunk_size` bytes at a time.
    pub fn new(max_head_size: usize, chunk_size: usize) -> Self {
        HeadLimits {
            max_head_size,
            chunk_size: chunk_size.max(1),
        }
    }
}

/// How the body after a head is framed (RFC 9112 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows; its end is only known by decoding it.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestHead {
    /// The request's head: its body, if any, follows in the input (see
    /// `body` and [`BodyDecoder`](super::BodyDecoder)).
    pub request: http::Request<()>,
    /// How many bytes of the input the head took.
    pub len: usize,
    /// How the request's body, if any, is framed.
    pub body: BodyFraming,
    /// Whether the client asked to keep the connection open afterwards.
    pub keep_alive: bool,
}

/// Parses the request head at the start of `buf`.
///
/// Returns `Ok(None)` if and only if `buf` holds the beginning of a valid
/// head that is still within `limits`: more bytes are needed, which is not
/// an error.
pub fn parse_head(buf: &[u8], limits: &HeadLimits) -> Result<Option<RequestHead>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            if len > limits.max_head_size {
                return Err(too_large(buf, limits.max_head_size));
            }
            build(&req, buf, len).map(Some)
        }
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limits.max_head_size {
                Err(too_large(buf, limits.max_head_size))
            } else {
                Ok(None)
            }
        }
        Err(httparse::Error::TooManyHeaders) => {
            Err(RequestError::TooManyHeaders { limit: MAX_HEADERS })
        }
        Err(httparse::Error::Version) => other_version(buf, limits),
        Err(httparse::Error::Token) => Err(RequestError::Malformed("bad method")),
        Err(httparse::Error::HeaderName) => Err(RequestError::Malformed("bad header field name")),
        Err(httparse::Error::HeaderValue) => Err(RequestError::Malformed("bad header field value")),
        Err(_) => Err(RequestError::Malformed("bad request head")),
    }
}

/// Reads one request head from `reader` into `buf` and parses it.
///
/// `buf` carries bytes between calls: whatever follows a head (a body, a
/// pipelined request) stays in it for the next call, and the head's own
/// bytes are removed. Reads ask for `limits.chunk_size` bytes at a time and
/// stop at `limits.max_head_size`.
///
/// Returns `Ok(None)` if and only if the reader reached its end with no
/// request begun (only blank lines, or nothing, were sent). A read that
/// times out (`WouldBlock` or `TimedOut`) gives [`RequestError::Timeout`].
pub fn read_head<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limits: &HeadLimits,
) -> Result<Option<RequestHead>, RequestError> {
    loop {
        if !buf.is_empty() {
            if let Some(head) = parse_head(buf, limits)? {
                buf.drain(..head.len);
                return Ok(Some(head));
            }
        }
        match read_more(reader, buf, limits.chunk_size) {
            Ok(0) if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) => return Ok(None),
            Ok(0) => return Err(RequestError::Incomplete),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(RequestError::Timeout);
            }
            Err(e) => return Err(RequestError::Io(e)),
        }
    }
}

/// One `read` of up to `chunk` bytes from `reader`, appended to `buf`.
fn read_more<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    chunk: usize,
) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + chunk, 0);
    let read = reader.read(&mut buf[start..]);
    buf.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

/// 414 when not even the request line fits in the limit, 431 otherwise.
fn too_large(buf: &[u8], limit: usize) -> RequestError {
    let start = buf
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(0);
    let line_ends = buf
        .get(start..limit.min(buf.len()))
        .is_some_and(|line| line.contains(&b'\n'));
    if line_ends {
        RequestError::HeadTooLarge { limit }
    } else {
        RequestError::UriTooLong { limit }
    }
}

/// The request line at the start of `buf` (after any blank lines), without
/// its line ending, and where it starts; `None` until its LF has arrived.
fn request_line(buf: &[u8]) -> Option<(usize, &[u8])> {
    let start = buf.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let len = buf.get(start..)?.iter().position(|&b| b == b'\n')?;
    let line = buf.get(start..start + len)?;
    Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// Where the request line names its version: the offset of `HTTP/x.y`
/// in `buf`, with `x` and `y`, if it is well-formed.
fn version_token(buf: &[u8]) -> Option<(usize, u8, u8)> {
    let (start, line) = request_line(buf)?;
    let space = line.iter().rposition(|&b| b == b' ')?;
    match line.get(space + 1..)? {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((start + space + 1, *major, *minor))
        }
        _ => None,
    }
}

/// RFC 9112 section 2.3: a request in HTTP/1.x with x above 1 is handled
/// as HTTP/1.1; another major version gets 505; garbage gets 400.
fn other_version(buf: &[u8], limits: &HeadLimits) -> Result<Option<RequestHead>, RequestError> {
    if request_line(buf).is_none() {
        // The request line is not complete yet.
        return if buf.len() >= limits.max_head_size {
            Err(too_large(buf, limits.max_head_size))
        } else {
            Ok(None)
        };
    }
    match version_token(buf) {
        Some((at, b'1', minor)) if minor > b'1' => {
            let mut as_11 = buf.to_vec();
            if let Some(digit) = as_11.get_mut(at + 7) {
                *digit = b'1';
            }
            // Still a bad version after the rewrite: the line was garbage.
            parse_head(&as_11, limits).map_err(|e| match e {
                RequestError::UnsupportedVersion => RequestError::Malformed("bad request line"),
                other => other,
            })
        }
        // 505 only for a well-formed line naming another major version; a
        // line httparse refused for anything else is a bad request even if
        // it ends in HTTP/1.1 (`GET /a b HTTP/1.1`).
        Some((_, major, _)) if major != b'1' && three_parts(buf) => {
            Err(RequestError::UnsupportedVersion)
        }
        _ => Err(RequestError::Malformed("bad request line")),
    }
}

/// Whether the request line is `method SP target SP version`, single
/// spaces, nothing empty (RFC 9112 section 3).
fn three_parts(buf: &[u8]) -> bool {
    let Some((_, line)) = request_line(buf) else {
        return false;
    };
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty())
}

fn build(
    req: &httparse::Request<'_, '_>,
    buf: &[u8],
    len: usize,
) -> Result<RequestHead, RequestError> {
    // One copy of the head, which the target and every field value share,
    // instead of a copy of each.
    let shared = Bytes::copy_from_slice(buf.get(..len).unwrap_or(buf));
    let slice_of = |part: &[u8]| {
        let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        shared
            .get(start..start.saturating_add(part.len()))
            .map(|_| shared.slice(start..start + part.len()))
    };
    let method = req
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(RequestError::Malformed("bad method"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(RequestError::UnsupportedVersion),
    };
    let target = req
        .path
        .ok_or(RequestError::Malformed("no request-target"))?;
    let uri = parse_target(&method, target, slice_of(target.as_bytes()))?;

    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| RequestError::Malformed("bad header field name"))?;
        let value = match slice_of(h.value) {
            Some(bytes) => HeaderValue::from_maybe_shared(bytes),
            None => HeaderValue::from_bytes(h.value),
        }
        .map_err(|_| RequestError::Malformed("bad header field value"))?;
        headers.append(name, value);
    }
    check_host(&headers, version)?;
    let body = body_framing(&headers, version)?;
    let keep_alive = wants_keep_alive(&headers, version);

    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(RequestHead {
        request,
        len,
        body,
        keep_alive,
    })
}

/// Accepts the four request-target forms of RFC 9112 section 3.2, each only
/// where it belongs.
/// `shared` is the target's bytes in the head's shared copy, if found there.
fn parse_target(method: &Method, target: &str, shared: Option<Bytes>) -> Result<Uri, RequestError> {
    if target.len() > MAX_URI_LEN {
        return Err(RequestError::UriTooLong { limit: MAX_URI_LEN });
    }
    let uri = match shared {
        Some(bytes) => Uri::from_maybe_shared(bytes),
        None => target.parse(),
    }
    .map_err(|_| RequestError::Malformed("bad request-target"))?;
    let fits = match uri.scheme_str() {
        Some(scheme) => {
            (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                && uri.authority().is_some()
        }
        None if target.starts_with('/') => true,
        None if target == "*" => method == Method::OPTIONS,
        None => method == Method::CONNECT && uri.authority().is_some(),
    };
    if fits {
        Ok(uri)
    } else {
        Err(RequestError::Malformed(
            "request-target form does not fit the method",
        ))
    }
}

/// RFC 9112 section 3.2: HTTP/1.1 needs exactly one `Host`, and a present
/// one must be a valid authority (or empty).
fn check_host(headers: &HeaderMap, version: Version) -> Result<(), RequestError> {
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => Err(RequestError::Malformed("no Host header")),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(RequestError::Malformed("more than one Host header")),
        (Some(host), None) => {
            let bytes = host.as_bytes();
            let valid = bytes.is_empty()
                || (!bytes.contains(&b'@')
                    && http::uri::Authority::try_from(bytes).is_ok()
                    && port_is_digits(bytes));
            if valid {
                Ok(())
            } else {
                Err(RequestError::Malformed("bad Host header"))
            }
        }
    }
}

/// Whether the port of a `Host` value, if any, is digits only (RFC 3986
/// section 3.2.3; `http`'s `Authority` does not check it). The port
/// follows the last `:` after an IPv6 literal's `]`.
fn port_is_digits(host: &[u8]) -> bool {
    let after_literal = host.iter().rposition(|&b| b == b']').map_or(0, |i| i + 1);
    let tail = host.get(after_literal..).unwrap_or_default();
    match tail.iter().rposition(|&b| b == b':') {
        Some(colon) => tail
            .get(colon + 1..)
            .unwrap_or_default()
            .iter()
            .all(u8::is_ascii_digit),
        None => true,
    }
}

/// RFC 9112 section 6: refuses every ambiguous framing, because a server
/// that guesses differently from a proxy in front of it can be smuggled a
/// second request.
fn body_framing(headers: &HeaderMap, version: Version) -> Result<BodyFraming, RequestError> {
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let text = value
            .to_str()
            .map_err(|_| RequestError::Malformed("bad Content-Length"))?;
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RequestError::Malformed("bad Content-Length"));
            }
            let n: u64 = part
                .parse()
                .map_err(|_| RequestError::Malformed("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(RequestError::Malformed("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    if has_te {
        if length.is_some() {
            return Err(RequestError::Malformed(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if version == Version::HTTP_10 {
            return Err(RequestError::Malformed("Transfer-Encoding in HTTP/1.0"));
        }
        let codings: Vec<&str> = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let chunked = |c: &&str| c.eq_ignore_ascii_case("chunked");
        return match codings.as_slice() {
            [only] if chunked(only) => Ok(BodyFraming::Chunked),
            // RFC 9112 section 6.1: chunked once, and last.
            [.., last] if !chunked(last) => {
                Err(RequestError::Malformed("request body not chunked last"))
            }
            [before @ .., _] if before.iter().any(chunked) => {
                Err(RequestError::Malformed("chunked applied twice"))
            }
            // gzip, chunked: framed, but its bytes would reach the handler
            // still coded (section 6.1: 501 for a coding not understood).
            [_, ..] => Err(RequestError::UnsupportedTransferCoding),
            [] => Err(RequestError::Malformed("empty Transfer-Encoding")),
        };
    }
    Ok(match length {
        None | Some(0) => BodyFraming::None,
        Some(n) => BodyFraming::Length(n),
    })
}

/// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 closes it
/// unless told `keep-alive`.
fn wants_keep_alive(headers: &HeaderMap, version: Version) -> bool {
    !connection_has(headers, "close")
        && (version == Version::HTTP_11 || connection_has(headers, "keep-alive"))
}

/// Whether a `Connection` header among `headers` lists `token`.
pub(crate) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
