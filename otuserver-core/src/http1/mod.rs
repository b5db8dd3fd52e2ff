//! The HTTP/1.x codec over `std::io`: [`read_head`] parses a request head
//! from any reader, [`BodyDecoder`] decodes the body after it,
//! [`write_response`] writes a response to any writer.
//! Nothing here knows about sockets, so the codec works as well on `&[u8]`
//! and `Vec<u8>` as on a `TcpStream`.

pub(crate) mod date;
mod decode;
mod parse;
mod write;

pub use date::fmt_http_date;
pub use decode::BodyDecoder;
pub use parse::{
    BodyFraming, HeadLimits, MAX_HEADERS, MAX_URI_LEN, RequestHead, parse_head, read_head,
};
// What the server feature's connections share with the codec.
#[cfg(feature = "server")]
pub(crate) use parse::{DEFAULT_CHUNK_SIZE, DEFAULT_MAX_HEAD_SIZE, connection_has};
pub use write::{Encoded, Framing, SERVER_NAME, WriteOptions, copy_file, encode, write_response};
#[cfg(feature = "server")]
pub(crate) use write::{LAST_CHUNK, shrank, write_chunk};
