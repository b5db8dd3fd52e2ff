//! From a parsed request head to a response under way: the request's body
//! read (or dropped) for its handler, the handler run on the loop or on the
//! worker pool, and the response's framing and what follows it decided.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use http::StatusCode;
use http::header::EXPECT;

use super::{Connection, Context, State, Then};
use crate::http1::{self, BodyDecoder, BodyFraming, RequestHead, WriteOptions};
use crate::server::outgoing::Outgoing;
use crate::server::pool::{Job, ReplyTo, handle_caught};
use crate::server::read;
use crate::server::request::{Exchange, Incoming};
use crate::{ClientAddr, Handler, Request, Response, response};

impl Connection {
    /// Takes a parsed request to its handler: reads its body first if the
    /// handler reads bodies, else drops or skips it.
    pub(super) fn respond<H: Handler>(&mut self, head: RequestHead, cx: &mut Context<'_, H>) {
        let format = cx.config.access_log_format();
        let mut exchange = Exchange::new(&head.request, head.keep_alive, self.peer, format);
        let mut request = head.request.map(|()| Bytes::new());
        let handler = cx.handler;
        let Ok(needs) = catch_unwind(AssertUnwindSafe(|| handler.needs(&request))) else {
            log::error!(
                "handler panicked deciding how to run a request from {}",
                self.peer
            );
            exchange.keep_alive = false;
            let failed = response::status_page(StatusCode::INTERNAL_SERVER_ERROR);
            return self.start_response(failed, exchange, cx);
        };
        if needs.client_addr {
            request.extensions_mut().insert(ClientAddr(self.peer));
        }
        if head.body == BodyFraming::None {
            return self.run(request, exchange, needs.blocking, cx);
        }
        if needs.body {
            let decoder = match BodyDecoder::new(head.body, cx.config.max_body_size()) {
                Ok(decoder) => decoder,
                // Before any of it is read; the client waiting for 100
                // Continue gets this final status instead.
                Err(e) => return self.refuse(&e, cx),
            };
            let incoming = Incoming::new(request, decoder, needs.blocking, exchange, cx.now);
            self.state = State::Body(Box::new(incoming));
            return self.read_body(cx);
        }
        let expects = request.headers().contains_key(EXPECT);
        exchange.skip_body(head.body, &mut self.buf, cx.config.max_discard(), expects);
        self.run(request, exchange, needs.blocking, cx)
    }

    /// Reads a request's body, from the buffer and then the socket, as far
    /// as it has arrived; once it is whole, runs the handler.
    pub(super) fn read_body<H: Handler>(&mut self, cx: &mut Context<'_, H>) {
        let State::Body(incoming) = &mut self.state else {
            return;
        };
        let result = read::body(incoming, &mut self.buf, &self.stream, cx.scratch, cx.now);
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(Some(e)) => return self.refuse(&e, cx),
            Err(None) => {
                self.state = State::Closed;
                return;
            }
        }
        let State::Body(incoming) = std::mem::replace(&mut self.state, State::Closed) else {
            return;
        };
        let (request, exchange, blocking) = incoming.finish();
        self.run(request, exchange, blocking, cx);
    }

    /// Runs the handler on `request`: on this thread if it does not block,
    /// else on the pool (`503` if its queue is full).
    fn run<H: Handler>(
        &mut self,
        request: Request,
        exchange: Exchange,
        blocking: bool,
        cx: &mut Context<'_, H>,
    ) {
        if !blocking {
            let peer = self.peer;
            let response = handle_caught(cx.handler, request, || format!("a request from {peer}"));
            return self.start_response(response, exchange, cx);
        }
        match cx
            .pool
            .submit(Job::Handle(Box::new(request), self.reply_to(cx)))
        {
            Ok(()) => self.state = State::Handling(Box::new(exchange)),
            Err(_) => {
                log::debug!("worker pool full: refusing a request from {}", self.peer);
                self.refuse_with(Some(StatusCode::SERVICE_UNAVAILABLE), cx);
            }
        }
    }

    fn reply_to<H>(&self, cx: &Context<'_, H>) -> ReplyTo {
        ReplyTo {
            lp: cx.lp,
            key: cx.key,
            id: self.id,
        }
    }

    /// Starts sending the handler's `response`: decides whether the
    /// connection stays open, and starts a streamed body's producer.
    pub(super) fn start_response<H: Handler>(
        &mut self,
        response: Response,
        exchange: Exchange,
        cx: &mut Context<'_, H>,
    ) {
        // Asked after the handler: a shutdown may have begun meanwhile.
        let asked_close = http1::connection_has(response.headers(), "close");
        let keep_alive = exchange.keep_alive && !asked_close && !cx.stopping();
        let status = response.status();
        let opts = WriteOptions::new(exchange.head_only, keep_alive).chunked(exchange.chunked);
        let encoded = http1::encode(response, opts);
        let keep_alive = encoded.keeps_alive();
        let log = exchange.log.map(|mut entry| {
            entry.set_status(status);
            entry
        });
        let then = match (keep_alive, exchange.body_left) {
            (true, 0) => Then::KeepAlive,
            (true, left) => Then::Discard(left),
            // Closing with anything unread would reset the connection and
            // could destroy the response: linger when the client may still
            // be sending.
            (false, _)
                if exchange.unread_body || exchange.body_left > 0 || !self.buf.is_empty() =>
            {
                Then::Linger
            }
            (false, _) => Then::Close,
        };
        let mut out = Box::new(Outgoing::new(encoded, log));
        if let Some(producer) = out.take_producer(cx.shared, self.reply_to(cx)) {
            if cx.pool.submit(Job::Produce(producer)).is_err() {
                log::debug!("worker pool full: no thread to produce a streamed body");
                return self.refuse_with(Some(StatusCode::SERVICE_UNAVAILABLE), cx);
            }
        }
        self.state = State::Write { out, then };
    }
}
