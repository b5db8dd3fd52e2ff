//! The HTTP/1.x codec over `std::io`: [`read_head`] parses a request head
//! from any reader, [`write_response`] writes a response to any writer.
//! Nothing here knows about sockets, so the codec works as well on `&[u8]`
//! and `Vec<u8>` as on a `TcpStream`.

pub(crate) mod date;
mod parse;
mod write;

pub use date::fmt_http_date;
pub use parse::{
    BodyFraming, HeadLimits, MAX_HEADERS, MAX_URI_LEN, RequestHead, parse_head, read_head,
};
// What the server feature's connections share with the codec.
#[cfg(feature = "server")]
pub(crate) use parse::{connection_has, read_more};
#[cfg(feature = "server")]
pub(crate) use write::shrank;
pub use write::{Encoded, SERVER_NAME, WriteOptions, copy_file, encode, write_response};
