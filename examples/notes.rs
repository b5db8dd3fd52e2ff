//! Run with: cargo run --example notes -- 8080
//!
//! A small JSON API beside the demo site's static files: notes kept in
//! memory. The API's handlers run on the worker pool, the files on the
//! event loop.
//!
//! ```text
//! curl -d '{"text":"buy milk"}' http://127.0.0.1:8080/api/notes    # 201, the new note
//! curl http://127.0.0.1:8080/api/notes                             # every note
//! curl http://127.0.0.1:8080/api/notes/1                           # one (or ?id=1)
//! curl -X DELETE http://127.0.0.1:8080/api/notes/1                 # 204
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use otuserver_core::http::StatusCode;
use otuserver_core::http::header::LOCATION;
use otuserver_core::{
    PathParams, Request, Response, Router, Server, ServerConfig, StaticFiles, response,
};
use serde_json::{Value, json};

/// The repository's demo site, wherever the example is run from.
const DEMO_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");

/// The notes, by id, and the next id.
#[derive(Default)]
struct Notes {
    notes: BTreeMap<u64, String>,
    next: u64,
}

type Shared = Arc<Mutex<Notes>>;

fn main() -> ExitCode {
    if let Err(e) = run() {
        eprintln!("notes: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, port) = match args.as_slice() {
        [] => (DEMO_SITE, None),
        [port] => (DEMO_SITE, Some(port)),
        [root, port, ..] => (root.as_str(), Some(port)),
    };
    let port = parse_port(port)?;

    let notes = Shared::default();
    let (list, add, one, remove) = (notes.clone(), notes.clone(), notes.clone(), notes);
    let app = Router::new()
        .get("/api/notes", move |req: Request| list_or_one(&list, &req))
        .post("/api/notes", move |req: Request| create(&add, &req))
        .get("/api/notes/{id}", move |req: Request| {
            find(&one, param_id(&req))
        })
        .delete("/api/notes/{id}", move |req: Request| {
            delete(&remove, param_id(&req))
        })
        .mount("/", StaticFiles::new(root)?);

    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(app)?;
    Ok(())
}

fn lock(notes: &Shared) -> std::sync::MutexGuard<'_, Notes> {
    notes.lock().unwrap_or_else(|e| e.into_inner())
}

fn note(id: u64, text: &str) -> Value {
    json!({ "id": id, "text": text })
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut resp = response::json(format!("{value}\n"));
    *resp.status_mut() = status;
    resp
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

/// `GET /api/notes`, or `GET /api/notes?id=N`.
fn list_or_one(notes: &Shared, req: &Request) -> Response {
    let id = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("id=")));
    if let Some(id) = id {
        return find(notes, id.parse().ok());
    }
    let all: Vec<Value> = lock(notes)
        .notes
        .iter()
        .map(|(id, text)| note(*id, text))
        .collect();
    json_response(StatusCode::OK, &Value::Array(all))
}

/// `POST /api/notes` with `{"text": "..."}`.
fn create(notes: &Shared, req: &Request) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(req.body()) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let Some(text) = body.get("text").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "no \"text\" string");
    };
    let mut notes = lock(notes);
    notes.next += 1;
    let id = notes.next;
    notes.notes.insert(id, text.to_owned());
    let mut resp = json_response(StatusCode::CREATED, &note(id, text));
    if let Ok(location) = format!("/api/notes/{id}").parse() {
        resp.headers_mut().insert(LOCATION, location);
    }
    resp
}

fn param_id(req: &Request) -> Option<u64> {
    req.extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .and_then(|id| id.parse().ok())
}

fn find(notes: &Shared, id: Option<u64>) -> Response {
    match id.and_then(|id| lock(notes).notes.get(&id).map(|text| note(id, text))) {
        Some(found) => json_response(StatusCode::OK, &found),
        None => error(StatusCode::NOT_FOUND, "no such note"),
    }
}

fn delete(notes: &Shared, id: Option<u64>) -> Response {
    match id.and_then(|id| lock(notes).notes.remove(&id)) {
        Some(_) => {
            let mut resp = Response::default();
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
        None => error(StatusCode::NOT_FOUND, "no such note"),
    }
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn parse_port(arg: Option<&String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
