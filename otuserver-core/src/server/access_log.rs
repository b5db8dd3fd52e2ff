//! The access log: one line per response, in the format the server is
//! configured with (Common Log Format, the "combined" format with
//! `Referer` and `User-Agent`, or one JSON object), to the `log` target
//! [`ACCESS_LOG_TARGET`](crate::ACCESS_LOG_TARGET). Whatever a request
//! carries, it cannot forge a line: every value from it is escaped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

use http::StatusCode;
use http::header::{REFERER, USER_AGENT};

use crate::http1::date;
use crate::{ACCESS_LOG_TARGET, json};

/// How access-log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// Common Log Format: `client - - [time] "request line" status bytes`.
    #[default]
    Common,
    /// Common, then `"Referer" "User-Agent"` (Apache's and nginx's
    /// "combined").
    Combined,
    /// One JSON object a line: time, client, method, path, status, bytes,
    /// duration in microseconds, user agent.
    Json,
}

/// Whether access-log lines are wanted.
pub(super) fn enabled() -> bool {
    log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info)
}

/// What a request was, for its line.
struct Asked {
    method: String,
    target: String,
    version: String,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
}

/// What an access-log line says about a request, gathered as it arrives
/// and kept until its response is sent.
pub(super) struct AccessEntry {
    peer: SocketAddr,
    /// `None` when no request could be read (a refused head).
    asked: Option<Asked>,
    status: StatusCode,
    started: Instant,
    format: AccessLogFormat,
}

impl AccessEntry {
    /// The entry for `req` from `peer`, if lines are wanted; its status is
    /// set when the response is.
    pub fn for_request<B>(
        req: &http::Request<B>,
        peer: SocketAddr,
        format: AccessLogFormat,
    ) -> Option<AccessEntry> {
        enabled().then(|| AccessEntry {
            peer,
            asked: Some(Asked {
                method: req.method().to_string(),
                target: req.uri().to_string(),
                version: format!("{:?}", req.version()),
                referer: req.headers().get(REFERER).map(|v| v.as_bytes().to_vec()),
                user_agent: req.headers().get(USER_AGENT).map(|v| v.as_bytes().to_vec()),
            }),
            status: StatusCode::OK,
            started: Instant::now(),
            format,
        })
    }

    /// The entry for a request refused before it could be read.
    pub fn refused(
        peer: SocketAddr,
        status: StatusCode,
        format: AccessLogFormat,
    ) -> Option<AccessEntry> {
        enabled().then(|| AccessEntry {
            peer,
            asked: None,
            status,
            started: Instant::now(),
            format,
        })
    }

    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Writes the line, with `bytes` of body sent.
    pub fn write(&self, bytes: u64) {
        let line = match self.format {
            AccessLogFormat::Json => self.json(bytes),
            _ => self.common(bytes),
        };
        log::info!(target: ACCESS_LOG_TARGET, "{line}");
    }

    fn common(&self, bytes: u64) -> String {
        let mut line = format!("{} - - [{}] \"", self.peer.ip(), date::clf_now());
        match &self.asked {
            Some(a) => {
                quoted(&mut line, a.method.as_bytes());
                line.push(' ');
                quoted(&mut line, a.target.as_bytes());
                line.push(' ');
                line.push_str(&a.version);
            }
            None => line.push('-'),
        }
        let _ = write!(line, "\" {} ", self.status.as_u16());
        match bytes {
            0 => line.push('-'),
            n => line.push_str(&n.to_string()),
        }
        if self.format == AccessLogFormat::Combined {
            let (referer, agent) = match &self.asked {
                Some(a) => (a.referer.as_deref(), a.user_agent.as_deref()),
                None => (None, None),
            };
            for value in [referer, agent] {
                line.push_str(" \"");
                quoted(&mut line, value.unwrap_or(b"-"));
                line.push('"');
            }
        }
        line
    }

    fn json(&self, bytes: u64) -> String {
        let mut line = String::from("{\"time\":");
        json::string(&mut line, date::iso_now().as_bytes());
        line.push_str(",\"client\":");
        json::string(&mut line, self.peer.ip().to_string().as_bytes());
        let empty = (String::new(), String::new());
        let (method, target) = match &self.asked {
            Some(a) => (&a.method, &a.target),
            None => (&empty.0, &empty.1),
        };
        line.push_str(",\"method\":");
        json::string(&mut line, method.as_bytes());
        line.push_str(",\"path\":");
        json::string(&mut line, target.as_bytes());
        let micros = self.started.elapsed().as_micros();
        let _ = write!(
            line,
            ",\"status\":{},\"bytes\":{bytes},\"duration_us\":{micros},\"user_agent\":",
            self.status.as_u16()
        );
        match self.asked.as_ref().and_then(|a| a.user_agent.as_deref()) {
            Some(agent) => json::string(&mut line, agent),
            None => line.push_str("null"),
        }
        line.push('}');
        line
    }
}

/// Appends `bytes` for a quoted field of a Common Log Format line: printable
/// ASCII as it is, but `"` and `\` escaped, and every other byte as
/// `\xHH` (as nginx does), so that nothing can end the field or the line.
fn quoted(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_cannot_end_the_field_or_the_line() {
        let mut out = String::new();
        quoted(
            &mut out,
            b"Mozilla \"x\"\r\n127.0.0.1 - - [forged] \\ caf\xc3\xa9",
        );
        assert_eq!(
            out,
            r#"Mozilla \"x\"\x0D\x0A127.0.0.1 - - [forged] \\ caf\xC3\xA9"#
        );
    }
}
