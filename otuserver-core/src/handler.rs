//! The `Handler` trait: one request in, one response out.

use std::sync::Arc;

use crate::{Request, Response};

/// Answers requests.
///
/// A handler is called from many worker threads at once, through `&self`:
/// state it keeps must be shared safely (atomics, a `Mutex`, an `Arc`). The
/// call is blocking and synchronous; the server owns every socket, timeout
/// and thread, so a handler never sees a connection and can be unit-tested
/// by building a [`Request`] and calling [`Handler::handle`]. It runs on the
/// event-loop thread that owns the connection, so one that blocks for long
/// delays that thread's other connections: keep it quick, or give the server
/// more workers.
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
}
