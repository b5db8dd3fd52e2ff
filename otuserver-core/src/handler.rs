//! The `Handler` trait: one request in, one response out.

use std::sync::Arc;

use crate::{Request, Response};

/// Answers requests.
///
/// A handler is called from many threads at once, through `&self`: state
/// it keeps must be shared safely (atomics, a `Mutex`, an `Arc`). The call
/// is blocking and synchronous; the server owns every socket, timeout and
/// thread, so a handler never sees a connection and can be unit-tested by
/// building a [`Request`] and calling [`Handler::handle`]. The request
/// arrives with its whole body (up to the server's limit).
///
/// By default a handler may block (a database call, a `sleep`): the server
/// runs it on its worker pool, and the event loops go on serving other
/// connections meanwhile. A handler that never blocks (it only computes,
/// or only opens and stats files, as [`StaticFiles`](crate::StaticFiles))
/// says so through [`Handler::needs`], or is wrapped in [`Inline`], and then
/// runs on the event loop with no hand-off at all.
///
/// "Not found" and other failures are responses, not errors: a handler
/// always returns a [`Response`]. A handler that panics costs only its own
/// request, which is answered `500 Internal Server Error`.
///
/// Closures implement `Handler`:
///
/// ```
/// use otuserver_core::{Handler, Request, Response, response};
///
/// let hello = |_req: Request| -> Response { response::text("hello\n") };
/// let resp = hello.handle(Request::default());
/// assert_eq!(resp.status(), 200);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: Request) -> Response;

    /// What answering `req` takes, asked once its head has arrived (`req`
    /// has an empty body and no [`ClientAddr`](crate::ClientAddr) then) and
    /// before its body is read. The default, [`Needs::default`], is safe for
    /// any handler: it may block, it reads the body and the client's
    /// address.
    fn needs(&self, req: &Request) -> Needs {
        let _ = req;
        Needs::default()
    }
}

/// What a handler needs from the server to answer a request: see
/// [`Handler::needs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The handler may block, so it runs on the worker pool rather than on
    /// the event loop. Default `true`.
    pub blocking: bool,
    /// The handler reads the request's body, so the server reads it first
    /// (up to its limit, else `413`). Without it a body is dropped, or the
    /// connection closed after the answer. Default `true`.
    pub body: bool,
    /// The handler reads the client's address, so the server puts a
    /// [`ClientAddr`](crate::ClientAddr) in the request's extensions.
    /// Without it the request has none, which spares three allocations per
    /// request (a tenth of a small file's user time). A wrapper that reads
    /// the address itself (an allow-list, say) sets this whatever its inner
    /// handler says. Default `true`.
    pub client_addr: bool,
}

impl Needs {
    /// What a handler that answers at once from what it holds needs:
    /// nothing. It runs on the event loop, reads no body and no address.
    pub const NOTHING: Needs = Needs {
        blocking: false,
        body: false,
        client_addr: false,
    };
}

impl Default for Needs {
    fn default() -> Self {
        Needs {
            blocking: true,
            body: true,
            client_addr: true,
        }
    }
}

/// A handler that never blocks, run on the event loop with no hand-off to
/// the worker pool: wrap a quick closure in it.
///
/// ```
/// use otuserver_core::{Handler, Inline, Request, Response, response};
///
/// let health = Inline(|_req: Request| -> Response { response::text("ok\n") });
/// assert!(!health.needs(&Request::default()).blocking);
/// ```
#[derive(Debug, Clone)]
pub struct Inline<H>(pub H);

impl<H: Handler> Handler for Inline<H> {
    fn handle(&self, req: Request) -> Response {
        self.0.handle(req)
    }

    fn needs(&self, req: &Request) -> Needs {
        Needs {
            blocking: false,
            ..self.0.needs(req)
        }
    }
}

impl<F> Handler for F
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: Request) -> Response {
        self(req)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn handle(&self, req: Request) -> Response {
        (**self).handle(req)
    }

    fn needs(&self, req: &Request) -> Needs {
        (**self).needs(req)
    }
}
