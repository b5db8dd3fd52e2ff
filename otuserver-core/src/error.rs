//! Error types, and the one place where request errors become HTTP statuses.

use std::io;
use std::path::PathBuf;

use http::StatusCode;

/// Why a request head could not be read or accepted.
///
/// [`RequestError::status`] is the one mapping from these errors to the
/// status the client is sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The head is not valid HTTP/1.x; the text says which part.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The request-target is longer than the limit.
    #[error("request-target longer than {limit} bytes")]
    UriTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The head (request line and header fields) is larger than the limit.
    #[error("request head larger than {limit} bytes")]
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The head has more header fields than the limit.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit on the number of fields.
        limit: usize,
    },
    /// The body has a transfer coding besides `chunked` (such as `gzip`),
    /// which this server does not decode.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// The request line names an HTTP version other than 1.0 and 1.1.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// The request's body is larger than the limit.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request (its head, or its body) did not arrive completely
    /// within the timeout.
    #[error("request not complete within the timeout")]
    Timeout,
    /// The peer closed the connection in the middle of a head.
    #[error("connection closed in the middle of a request head")]
    Incomplete,
    /// Reading from the connection failed.
    #[error("reading the request failed: {0}")]
    Io(#[source] io::Error),
}

impl RequestError {
    /// The status to answer with, or `None` when no answer can reach the
    /// client (the connection is closed or broken).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            RequestError::Malformed(_) => Some(StatusCode::BAD_REQUEST),
            RequestError::UriTooLong { .. } => Some(StatusCode::URI_TOO_LONG),
            RequestError::HeadTooLarge { .. } | RequestError::TooManyHeaders { .. } => {
                Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            }
            RequestError::BodyTooLarge { .. } => Some(StatusCode::PAYLOAD_TOO_LARGE),
            RequestError::UnsupportedVersion => Some(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
            RequestError::UnsupportedTransferCoding => Some(StatusCode::NOT_IMPLEMENTED),
            RequestError::Timeout => Some(StatusCode::REQUEST_TIMEOUT),
            RequestError::Incomplete | RequestError::Io(_) => None,
        }
    }
}

/// Why the static-files handler could not serve a path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The decoded path holds a NUL byte or is not UTF-8, or the target is
    /// not a path at all.
    #[error("request path is not a valid file path")]
    BadPath,
    /// Nothing is there (or a file was asked for as a directory).
    #[error("not found")]
    NotFound,
    /// It exists but may not be served: outside the root, unreadable, or not
    /// a regular file.
    #[error("forbidden")]
    Forbidden,
    /// The file system failed in an unexpected way.
    #[error("file system error: {0}")]
    Io(#[source] io::Error),
    /// The process or the system is out of file descriptors: a passing
    /// shortage, not the file's fault.
    #[error("out of file descriptors")]
    Exhausted,
    /// The document root is not there (moved or deleted while serving).
    #[error("the document root is gone")]
    RootGone,
}

impl ResolveError {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            ResolveError::BadPath => StatusCode::BAD_REQUEST,
            ResolveError::NotFound => StatusCode::NOT_FOUND,
            ResolveError::Forbidden => StatusCode::FORBIDDEN,
            ResolveError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ResolveError::Exhausted | ResolveError::RootGone => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<io::Error> for ResolveError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ResolveError::NotFound,
            io::ErrorKind::PermissionDenied => ResolveError::Forbidden,
            _ => match e.raw_os_error() {
                Some(libc::ENAMETOOLONG) => ResolveError::NotFound,
                // ENXIO/ENODEV/EOPNOTSUPP: a socket or device that cannot
                // be opened as a file; not a server fault.
                Some(
                    libc::ELOOP | libc::EACCES | libc::ENXIO | libc::ENODEV | libc::EOPNOTSUPP,
                ) => ResolveError::Forbidden,
                Some(libc::EMFILE | libc::ENFILE) => ResolveError::Exhausted,
                _ => ResolveError::Io(e),
            },
        }
    }
}

/// Errors of setting up and running a server: what an embedding program
/// reports to its user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be created or bound.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The document root cannot be used.
    #[error("document root {}: {source}", path.display())]
    DocRoot {
        /// The root as given.
        path: PathBuf,
        /// What went wrong with it.
        #[source]
        source: io::Error,
    },
    /// A configuration value is out of range.
    #[cfg(feature = "server")]
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The server's own machinery (threads, readiness) failed.
    #[error("server I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A [`ServerConfig`](crate::ServerConfig) setting whose value is out of
/// its range: which setting, and what it must be. Displayed as
/// `workers must be at least 1, not 0`; a program with flags of its own
/// names its flag from [`ConfigError::setting`] and
/// [`ConfigError::requirement`].
#[cfg(feature = "server")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {requirement}")]
pub struct ConfigError {
    setting: &'static str,
    requirement: String,
}

#[cfg(feature = "server")]
impl ConfigError {
    pub(crate) fn new(setting: &'static str, requirement: String) -> ConfigError {
        ConfigError {
            setting,
            requirement,
        }
    }

    /// The setting's name, as the field of `ServerConfig` is named
    /// (`"workers"`, `"keep_alive_timeout"`).
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// What its value must be, and what it was: `must be at least 1, not 0`.
    pub fn requirement(&self) -> &str {
        &self.requirement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_system_errors_map_to_statuses() {
        let status = |e: io::Error| ResolveError::from(e).status();
        assert_eq!(
            status(io::ErrorKind::PermissionDenied.into()),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::EACCES)),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::ELOOP)),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::ENXIO)),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(io::ErrorKind::NotFound.into()),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::ENOTDIR)),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::ENAMETOOLONG)),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::EIO)),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        for e in [libc::EMFILE, libc::ENFILE] {
            assert_eq!(
                status(io::Error::from_raw_os_error(e)),
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
    }
}
