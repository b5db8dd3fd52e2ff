//! Reading a request body framed by `Content-Length` or `chunked` (RFC 9112
//! sections 6.2 and 7.1): bytes in, body bytes and progress out, no socket.
//! Whoever owns the connection feeds it what has arrived, in pieces of any
//! size, and learns how much of its input was body and when the body ends;
//! what follows stays theirs (a pipelined request).

use super::BodyFraming;
use crate::RequestError;

/// The most hex digits of a chunk size: 16 fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;
/// The most chunk-extension bytes accepted in one body (they are ignored),
/// so that framing cannot outweigh the data it frames.
const MAX_EXTENSION: usize = 16 * 1024;
/// The most trailer bytes accepted (trailers are read and dropped).
const MAX_TRAILERS: usize = 8192;

/// A body being decoded. Chunk extensions and trailer fields are read and
/// dropped; chunk data is appended to the caller's buffer.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// The most body bytes accepted.
    limit: u64,
    /// Body bytes decoded so far.
    received: u64,
    /// Chunk-extension and trailer bytes read so far.
    extensions: usize,
    trailers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `left` bytes of a `Content-Length` body still to come.
    Length {
        left: u64,
    },
    /// The hex digits of a chunk size.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size: whitespace, before `;` or the line's CR.
    SizeWs {
        value: u64,
    },
    /// An extension, after its `;`, up to the line's CR.
    Extension {
        value: u64,
    },
    /// The LF that ends a chunk-size line.
    SizeLf {
        value: u64,
    },
    /// Chunk data still to come.
    Data {
        left: u64,
    },
    /// The CR, then the LF, after a chunk's data.
    DataCr,
    DataLf,
    /// A trailer line (`len` bytes so far); an empty one ends the body.
    Trailer {
        len: usize,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, refusing more than `limit`
    /// bytes: a `Content-Length` above it at once, a chunked body as soon
    /// as its chunks say so, with [`RequestError::BodyTooLarge`].
    pub fn new(framing: BodyFraming, limit: u64) -> Result<BodyDecoder, RequestError> {
        let state = match framing {
            BodyFraming::None => State::Done,
            BodyFraming::Length(n) if n > limit => {
                return Err(RequestError::BodyTooLarge { limit });
            }
            BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(n) => State::Length { left: n },
            BodyFraming::Chunked => State::Size {
                value: 0,
                digits: 0,
            },
        };
        Ok(BodyDecoder {
            state,
            limit,
            received: 0,
            extensions: 0,
            trailers: 0,
        })
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what `input` holds, appending body bytes to `out`, and
    /// returns how many bytes of `input` belonged to the body. Fewer than
    /// all of them means the body ended there. A malformed chunk is
    /// [`RequestError::Malformed`]; a body over the limit
    /// [`RequestError::BodyTooLarge`].
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, RequestError> {
        let mut used = 0;
        while used < input.len() && self.state != State::Done {
            let rest = &input[used..];
            match self.state {
                State::Length { left } | State::Data { left } => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&rest[..n]);
                    used += n;
                    self.received += n as u64;
                    let left = left - n as u64;
                    self.state = match (self.state, left) {
                        (State::Length { .. }, 0) => State::Done,
                        (State::Length { .. }, left) => State::Length { left },
                        (_, 0) => State::DataCr,
                        (_, left) => State::Data { left },
                    };
                }
                _ => {
                    self.state = self.step(rest[0])?;
                    self.count_framing()?;
                    used += 1;
                }
            }
        }
        Ok(used)
    }

    /// The state after one byte of chunk framing.
    fn step(&self, b: u8) -> Result<State, RequestError> {
        let bad = |what| Err(RequestError::Malformed(what));
        Ok(match self.state {
            State::Size { value, digits } => match (b as char).to_digit(16) {
                Some(d) if digits < MAX_SIZE_DIGITS => State::Size {
                    value: (value << 4) | u64::from(d),
                    digits: digits + 1,
                },
                Some(_) => return bad("chunk size too long"),
                None if digits == 0 => return bad("chunk size missing"),
                None => after_size(value, b)?,
            },
            // RFC 9112 section 7.1.1: BWS before the `;` of an extension.
            State::SizeWs { value } => after_size(value, b)?,
            State::Extension { value } => match b {
                b'\r' => State::SizeLf { value },
                b'\n' => return bad("chunk-size line without CR"),
                _ => State::Extension { value },
            },
            State::SizeLf { value } => match b {
                b'\n' if value == 0 => State::Trailer { len: 0 },
                b'\n' => self.chunk_start(value, State::Data { left: value })?,
                _ => return bad("chunk-size line without LF"),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return bad("chunk data longer than its size"),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return bad("chunk data without CRLF"),
            },
            State::Trailer { len } => match b {
                b'\r' => State::TrailerLf { empty: len == 0 },
                b'\n' => return bad("trailer line without CR"),
                _ => State::Trailer { len: len + 1 },
            },
            State::TrailerLf { empty } => match (b, empty) {
                (b'\n', true) => State::Done,
                (b'\n', false) => State::Trailer { len: 0 },
                _ => return bad("trailer line without LF"),
            },
            State::Length { .. } | State::Data { .. } | State::Done => self.state,
        })
    }

    /// Counts a byte of extension or trailer, refusing too many in all.
    fn count_framing(&mut self) -> Result<(), RequestError> {
        match self.state {
            State::Extension { .. } => self.extensions += 1,
            State::Trailer { len } if len > 0 => self.trailers += 1,
            _ => return Ok(()),
        }
        if self.extensions > MAX_EXTENSION {
            return Err(RequestError::Malformed("chunk extensions too long"));
        }
        if self.trailers > MAX_TRAILERS {
            return Err(RequestError::Malformed("trailers too long"));
        }
        Ok(())
    }

    /// `next`, once a chunk of `size` bytes is known to fit the limit.
    fn chunk_start(&self, size: u64, next: State) -> Result<State, RequestError> {
        match self.received.checked_add(size) {
            Some(total) if total <= self.limit => Ok(next),
            _ => Err(RequestError::BodyTooLarge { limit: self.limit }),
        }
    }
}

/// The state after byte `b` that follows the digits (and perhaps some
/// whitespace) of the chunk size `value`.
fn after_size(value: u64, b: u8) -> Result<State, RequestError> {
    match b {
        b'\r' => Ok(State::SizeLf { value }),
        b';' => Ok(State::Extension { value }),
        b' ' | b'\t' => Ok(State::SizeWs { value }),
        _ => Err(RequestError::Malformed("bad chunk size")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of `input`, fed `step` bytes at a time, and the input left
    /// after it.
    fn decode(
        framing: BodyFraming,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, usize), RequestError> {
        let mut d = BodyDecoder::new(framing, 1 << 20)?;
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() && !d.is_done() {
            let end = (at + step).min(input.len());
            at += d.decode(&input[at..end], &mut out)?;
            if d.is_done() {
                break;
            }
        }
        assert!(
            d.is_done(),
            "unfinished: {:?}",
            String::from_utf8_lossy(input)
        );
        Ok((out, input.len() - at))
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_pieces() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"5;name=value\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5 ; x\r\nhello\r\n0;y\r\n\r\n", b"hello"),
            (
                b"5\r\nhello\r\n0\r\nExpires: never\r\nX-A: b\r\n\r\n",
                b"hello",
            ),
            (b"0000000000000005\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"0\r\n\r\n", b""),
        ];
        for (input, body) in cases {
            for step in [1, 2, 3, 7, input.len()] {
                let mut with_next = input.to_vec();
                with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
                let (got, left) = decode(BodyFraming::Chunked, &with_next, step).unwrap();
                assert_eq!(&got, body, "{:?} by {step}", String::from_utf8_lossy(input));
                assert_eq!(left, 16, "the next request is not the body's");
            }
        }
    }

    #[test]
    fn malformed_chunks_are_refused() {
        let cases: &[&[u8]] = &[
            b"\r\n",
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-A: b\n\r\n",
            b"5\rhello",
            b"10000000000000000\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
        ];
        for input in cases {
            let mut d = BodyDecoder::new(BodyFraming::Chunked, 1 << 20).unwrap();
            let got = d.decode(input, &mut Vec::new());
            assert!(
                matches!(got, Err(RequestError::Malformed(_))),
                "{:?}: {got:?}",
                String::from_utf8_lossy(input)
            );
        }
        let mut long_ext = b"5;".to_vec();
        long_ext.extend(std::iter::repeat_n(b'x', MAX_EXTENSION + 1));
        let mut d = BodyDecoder::new(BodyFraming::Chunked, 1 << 20).unwrap();
        assert!(d.decode(&long_ext, &mut Vec::new()).is_err());
        // Extensions and trailers are bounded over the whole body, not per
        // chunk or line: many small ones add up.
        let mut many = Vec::new();
        for _ in 0..2000 {
            many.extend_from_slice(b"1;abcdefghij\r\nx\r\n");
        }
        let mut d = BodyDecoder::new(BodyFraming::Chunked, 1 << 20).unwrap();
        assert!(d.decode(&many, &mut Vec::new()).is_err(), "extensions");
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..3000 {
            trailers.extend_from_slice(b"a: b\r\n");
        }
        let mut d = BodyDecoder::new(BodyFraming::Chunked, 1 << 20).unwrap();
        assert!(d.decode(&trailers, &mut Vec::new()).is_err(), "trailers");
    }

    #[test]
    fn the_limit_holds_for_both_framings() {
        assert!(matches!(
            BodyDecoder::new(BodyFraming::Length(11), 10),
            Err(RequestError::BodyTooLarge { limit: 10 })
        ));
        let mut d = BodyDecoder::new(BodyFraming::Chunked, 10).unwrap();
        let mut out = Vec::new();
        assert!(d.decode(b"6\r\nhello!\r\n", &mut out).is_ok());
        let over = d.decode(b"5\r\n", &mut out);
        assert!(
            matches!(over, Err(RequestError::BodyTooLarge { limit: 10 })),
            "{over:?}"
        );
        let mut d = BodyDecoder::new(BodyFraming::Chunked, 10).unwrap();
        assert!(d.decode(b"FFFFFFFFFFFFFFFF\r\n", &mut out).is_err());
    }

    #[test]
    fn a_length_body_ends_at_its_length() {
        let (body, left) = decode(BodyFraming::Length(5), b"helloGET", 2).unwrap();
        assert_eq!((body.as_slice(), left), (&b"hello"[..], 3));
        assert!(
            BodyDecoder::new(BodyFraming::Length(0), 0)
                .unwrap()
                .is_done()
        );
        assert!(BodyDecoder::new(BodyFraming::None, 0).unwrap().is_done());
    }
}
