//! A real browser against a real server: headless Chromium, driven over W3C
//! WebDriver (chromedriver) with fantoccini.
//!
//! Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver` packages; when they are missing the test installs them
//! with apt-get (as `.ci/run` does), and fails if it cannot. Set
//! `OTUSERVER_SKIP_BROWSER=1` to skip these tests on a machine without apt.
//! Screenshots are saved under `target/tmp/` (the paths are printed); with
//! `OTUSERVER_DOCS_SCREENSHOT=1` the listing's also goes to `docs/`.

mod common;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestServer, quick_config};
use fantoccini::{Client, ClientBuilder, Locator};
use otuserver_core::{Handler, Request, Response, StaticFiles};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The whole browser part of a test must finish within this.
const BROWSER_BUDGET: Duration = Duration::from_secs(180);

/// One browser at a time: two on two cores only make both slow.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// Images, written by hand so the test needs no image library
// ---------------------------------------------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A `w`×`h` RGB PNG of one colour: zlib with one stored (uncompressed)
/// deflate block.
fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    // Each row: filter type 0 (none), then the pixels.
    let mut row = vec![0u8];
    row.extend(rgb.iter().copied().cycle().take(3 * w as usize));
    let raw = row.repeat(h as usize);
    assert!(raw.len() < 65_536);
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    zlib.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    zlib.extend_from_slice(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &zlib);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A 1×1 GIF of one colour. LZW with a 2-bit minimum code size: clear (4),
/// index 0, end (5), three bits each, least significant first: 0x44 0x01.
fn gif(rgb: [u8; 3]) -> Vec<u8> {
    let mut out = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    out.extend_from_slice(&rgb);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b");
    out
}

/// An 8×8 grey baseline JPEG: one block whose DC difference and AC
/// coefficients are all zero, coded with one-symbol Huffman tables (code
/// `0` for each), so the scan is the bits `00` padded with ones.
fn jpeg() -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    out.extend_from_slice(&[1u8; 64]);
    out.extend_from_slice(&[
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
    ]);
    for class in [0x00, 0x10] {
        out.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, class, 1]);
        out.extend_from_slice(&[0u8; 15]);
        out.push(0x00);
    }
    out.extend_from_slice(&[
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x3F, 0xFF, 0xD9,
    ]);
    out
}

// ---------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------

/// Makes sure Chromium and chromedriver are installed; `false` if the
/// tests are to be skipped.
fn browser_installed() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    if std::env::var_os("OTUSERVER_SKIP_BROWSER").is_some() {
        eprintln!("OTUSERVER_SKIP_BROWSER is set and Chromium is missing: skipping");
        return false;
    }
    let installed = common::apt_install(&["chromium", "chromium-driver"]);
    assert!(
        installed && Path::new(CHROMEDRIVER).exists(),
        "Chromium and chromedriver are missing and apt-get could not install them; \
         install the Debian packages chromium and chromium-driver, or set \
         OTUSERVER_SKIP_BROWSER=1"
    );
    true
}

/// chromedriver on a free loopback port, killed on drop, with a fresh
/// profile directory for the browser.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            port,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    async fn session(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        let caps = json!({
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "timeouts": { "pageLoad": 60_000, "script": 30_000, "implicit": 0 },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `test` with a browser session, bounded in time; the session is
/// closed whatever happens.
fn with_browser<F, Fut>(test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Client>,
{
    if !browser_installed() {
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let driver = Driver::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = driver.session().await;
        let client = tokio::time::timeout(BROWSER_BUDGET, test(client))
            .await
            .expect("the browser test finished in time");
        let _ = client.close().await;
    });
}

/// Waits until the document at a URL other than `from` has loaded.
async fn wait_for_navigation(c: &Client, from: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = c.current_url().await.unwrap().to_string();
        let ready = c
            .execute("return document.readyState", vec![])
            .await
            .unwrap();
        if url != from && ready == "complete" {
            return;
        }
        assert!(Instant::now() < deadline, "no navigation away from {from}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Follows the link whose text is exactly `text`.
async fn click_link(c: &Client, text: &str) {
    let from = c.current_url().await.unwrap().to_string();
    c.find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("no link {text:?} on {from}: {e}"))
        .click()
        .await
        .unwrap();
    wait_for_navigation(c, &from).await;
}

async fn go_back(c: &Client) {
    let from = c.current_url().await.unwrap().to_string();
    c.back().await.unwrap();
    wait_for_navigation(c, &from).await;
}

async fn body_text(c: &Client) -> String {
    let text = c
        .execute("return document.body.innerText", vec![])
        .await
        .unwrap();
    text.as_str().unwrap_or_default().to_owned()
}

fn save_screenshot(name: &str, png: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

/// Each request's path and the status it was answered with.
type StatusLog = Arc<Mutex<Vec<(String, u16)>>>;

/// A static-files handler that records the status of every request.
fn recording(files: StaticFiles) -> (impl Handler, StatusLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    let handler = move |req: Request| -> Response {
        let path = req.uri().path().to_owned();
        let resp = files.handle(req);
        seen.lock().unwrap().push((path, resp.status().as_u16()));
        resp
    };
    (handler, log)
}

// ---------------------------------------------------------------------------
// A full web page
// ---------------------------------------------------------------------------

const IMAGES: usize = 200;

/// A page like a saved encyclopedia article: about 1 MB of HTML, a
/// stylesheet and a script in their own folders, and 200 images (PNG, JPEG,
/// GIF) in nested folders whose names hold spaces and non-ASCII letters.
fn article_site(root: &Path) -> Vec<String> {
    let write = |rel: &str, bytes: &[u8]| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write(
        "static/styles/main style.css",
        b"body { background-color: rgb(250, 248, 240); font-family: serif; }\n\
          .infobox { width: 321px; float: right; border: 1px solid #999; }\n\
          .hero { height: 20px; background-image: url(\"../img/\xc3\xa9t\xc3\xa9/sun.gif\"); }\n\
          figure { display: inline-block; margin: 2px; }\n",
    );
    write(
        "static/scripts/app.js",
        b"document.documentElement.dataset.script = 'ran';\n\
          document.getElementById('status').textContent = 'script ran';\n",
    );
    write("static/img/été/sun.gif", &gif([255, 200, 0]));

    let mut srcs = Vec::new();
    for i in 0..IMAGES {
        let shade = (i * 37 % 256) as u8;
        let (rel, bytes) = match i % 3 {
            0 => (
                format!("static/img/png/figure {i}.png"),
                png(16 + (i % 5) as u32, 12, [shade, 90, 200]),
            ),
            1 => (format!("static/img/jpeg/фото/снимок {i}.jpg"), jpeg()),
            _ => (
                format!("static/img/gif/a b/ü {i}.gif"),
                gif([200, shade, 40]),
            ),
        };
        write(&rel, &bytes);
        srcs.push(rel);
    }

    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Static file server - an article</title>\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"static/styles/main style.css\">\n\
         </head>\n<body>\n<div class=\"hero\"></div>\n\
         <p id=\"status\">script did not run</p>\n\
         <div class=\"infobox\">Infobox</div>\n<h1>Static file server</h1>\n",
    );
    let paragraph = "A static web server answers requests for files stored on disk, \
                     adding the headers a browser needs to show them. ";
    for (i, src) in srcs.iter().enumerate() {
        html.push_str(&format!(
            "<figure><img src=\"{src}\" alt=\"figure {i}\" width=\"24\" height=\"18\"></figure>\n<p>"
        ));
        for _ in 0..48 {
            html.push_str(paragraph);
        }
        html.push_str("</p>\n");
    }
    html.push_str("<script src=\"static/scripts/app.js\"></script>\n</body>\n</html>\n");
    write("index.html", html.as_bytes());
    srcs
}

#[test]
fn a_full_page_shows_correctly_in_chromium() {
    let site = tempfile::tempdir().unwrap();
    let srcs = article_site(site.path());
    let html_len = std::fs::metadata(site.path().join("index.html"))
        .unwrap()
        .len();
    assert!(html_len > 1_000_000, "{html_len} bytes of HTML");
    let (handler, log) = recording(StaticFiles::new(site.path()).unwrap());
    let srv = TestServer::start(handler, quick_config());
    let url = format!("http://{}/", srv.addr);

    with_browser(|c| async move {
        c.goto(&url).await.unwrap();
        let report = c
            .execute(
                "const imgs = Array.from(document.images);
                 return {
                   images: imgs.length,
                   broken: imgs.filter(i => !i.complete || i.naturalWidth === 0)
                               .map(i => i.getAttribute('src')),
                   background: getComputedStyle(document.body).backgroundColor,
                   infobox: getComputedStyle(document.querySelector('.infobox')).width,
                   hero: getComputedStyle(document.querySelector('.hero')).backgroundImage,
                   script: document.documentElement.dataset.script || null,
                   status: document.getElementById('status').textContent,
                   resources: performance.getEntriesByType('resource')
                     .map(r => [r.name, r.responseStatus]),
                 };",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(report["images"], IMAGES, "{report}");
        assert_eq!(report["broken"], json!([]), "{report}");
        assert_eq!(report["background"], "rgb(250, 248, 240)", "stylesheet");
        assert_eq!(report["infobox"], "321px", "stylesheet");
        assert!(
            report["hero"].as_str().unwrap_or("").contains("sun.gif"),
            "{report}"
        );
        assert_eq!(report["script"], "ran");
        assert_eq!(report["status"], "script ran");
        // Everything the page asked for arrived with 200 (the icon is a
        // data: URL, so nothing else is fetched).
        let resources = report["resources"].as_array().unwrap();
        assert_eq!(resources.len(), IMAGES + 3, "{report}");
        for r in resources {
            assert_eq!(r[1], 200, "{r}");
        }
        save_screenshot("page.png", &c.screenshot().await.unwrap());
        c
    });

    // And the server saw the same: every request answered 200, every image
    // requested once, by its decoded path.
    let log = log.lock().unwrap();
    let failed: Vec<_> = log.iter().filter(|(_, s)| *s != 200).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (p, _) in log.iter() {
        let decoded = percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned();
        *paths.entry(decoded).or_default() += 1;
    }
    for src in &srcs {
        assert!(
            paths.contains_key(&format!("/{src}")),
            "{src} never requested"
        );
    }
    assert!(paths.contains_key("/static/styles/main style.css"));
    assert!(paths.contains_key("/static/scripts/app.js"));
    assert!(paths.contains_key("/static/img/été/sun.gif"));
}

// ---------------------------------------------------------------------------
// The demo site, as a first run shows it
// ---------------------------------------------------------------------------

#[test]
fn the_demo_site_shows_correctly_in_chromium() {
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../site");
    let (handler, log) = recording(StaticFiles::new(&site).unwrap());
    let srv = TestServer::start(handler, quick_config());
    let url = format!("http://{}/", srv.addr);

    with_browser(|c| async move {
        c.goto(&url).await.unwrap();
        // The script fills the table from a HEAD request of its own.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            let status = c
                .execute(
                    "return document.getElementById('status').textContent",
                    vec![],
                )
                .await
                .unwrap();
            if status.as_str().is_some_and(|s| s.starts_with("script ran")) {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the script did not run: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status, "script ran: HEAD docs/notes.txt answered 200");
        let report = c
            .execute(
                "const logo = document.querySelector('header img');
                 const rows = Array.from(document.querySelectorAll('#headers tr'))
                   .map(r => [r.cells[0].textContent, r.cells[1].textContent]);
                 return {
                   logo: logo.complete ? logo.naturalWidth : 0,
                   background: getComputedStyle(document.body).backgroundColor,
                   accent: getComputedStyle(document.querySelector('h1')).color,
                   headers: Object.fromEntries(rows),
                 };",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(report["logo"], 96, "{report}");
        assert_eq!(report["background"], "rgb(251, 250, 246)", "stylesheet");
        assert_eq!(report["accent"], "rgb(196, 81, 31)", "stylesheet");
        assert_eq!(
            report["headers"]["content-type"], "text/plain; charset=utf-8",
            "{report}"
        );
        save_screenshot("demo.png", &c.screenshot().await.unwrap());

        // Plain UTF-8 text shows as written, not as windows-1252 mojibake.
        click_link(&c, "docs/notes.txt").await;
        let text = body_text(&c).await;
        assert!(
            text.contains("naïve café, Straße, 東京, Ωμέγα, ✓"),
            "{text}"
        );
        go_back(&c).await;
        click_link(&c, "docs/").await;
        assert!(body_text(&c).await.contains("A subdirectory"));
        c
    });

    let log = log.lock().unwrap();
    let failed: Vec<_> = log.iter().filter(|(_, s)| *s != 200).collect();
    assert!(failed.is_empty(), "{failed:?}");
    for asked in [
        "/",
        "/style.css",
        "/app.js",
        "/images/logo.svg",
        "/docs/notes.txt",
    ] {
        assert!(log.iter().any(|(p, _)| p == asked), "{asked} in {log:?}");
    }
}

// ---------------------------------------------------------------------------
// The directory listing
// ---------------------------------------------------------------------------

/// Names that must survive HTML and URL encoding both ways.
const AWKWARD: [&str; 7] = [
    "a#b?c.txt",
    "100% sure.txt",
    "quote\"s and 'apostrophes'.txt",
    "naïve café.txt",
    "<b onmouseover=alert(1)>bold.txt",
    "semi;colon&amp.txt",
    "plus+sign =.txt",
];

fn listing_site(root: &Path) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("nested dir/deeper/leaf.txt", "the leaf at the bottom\n");
    write("nested dir/sibling.txt", "a sibling\n");
    for name in [
        "photo 1.jpg",
        "photo 2.jpg",
        "photo 10.jpg",
        "Notes.md",
        "Zebra.txt",
    ] {
        write(&format!("nested dir/{name}"), name);
    }
    write("nested dir/sub folder/x.txt", "x");
    let big = std::fs::File::create(root.join("nested dir/video.bin")).unwrap();
    big.set_len(3 << 20).unwrap();
    // The example: `<script>alert(1)</script>.txt`, a folder and a
    // file since a name cannot hold `/`.
    write("<script>alert(1)</script>.txt", "not a script\n");
    write("file2.txt", "two\n");
    write("file10.txt", "ten\n");
    for name in AWKWARD {
        write(name, &format!("contents of {name}\n"));
    }
}

#[test]
fn the_listing_is_clicked_through_in_chromium() {
    let site = tempfile::tempdir().unwrap();
    listing_site(site.path());
    let files = StaticFiles::new(site.path()).unwrap().generate_index(true);
    let (handler, log) = recording(files);
    let srv = TestServer::start(handler, quick_config());
    let root_url = format!("http://{}/", srv.addr);

    with_browser(|c| async move {
        c.goto(&root_url).await.unwrap();
        // Natural order, directories first.
        let names = c
            .execute(
                "return Array.from(document.querySelectorAll('tbody a'))
                        .map(a => a.textContent)",
                vec![],
            )
            .await
            .unwrap();
        let names: Vec<&str> = names
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let pos = |n: &str| {
            names
                .iter()
                .position(|x| *x == n)
                .unwrap_or_else(|| panic!("{n} in {names:?}"))
        };
        assert!(pos("<script>alert(1)</") < pos("nested dir/"), "{names:?}");
        assert!(pos("nested dir/") < pos("file2.txt"), "{names:?}");
        assert!(pos("file2.txt") < pos("file10.txt"), "{names:?}");

        // The hostile names are text: no element was made of them.
        let made = c
            .execute(
                "return document.querySelectorAll('script, b, tbody a *').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(made, 0);
        save_screenshot("listing.png", &c.screenshot().await.unwrap());

        // Down into a nested file and back up.
        click_link(&c, "nested dir/").await;
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/nested%20dir/")
        );
        let text = body_text(&c).await;
        assert!(text.contains("3.0 MiB"), "human sizes: {text}");
        let shot = c.screenshot().await.unwrap();
        save_screenshot("listing-nested.png", &shot);
        if std::env::var_os("OTUSERVER_DOCS_SCREENSHOT").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/listing.png");
            std::fs::write(&docs, &shot).unwrap();
        }
        // On a phone-sized window nothing runs off the side.
        c.set_window_size(390, 844).await.unwrap();
        let overflow = c
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{overflow} px too wide"
        );
        save_screenshot("listing-phone.png", &c.screenshot().await.unwrap());
        c.set_window_size(1280, 900).await.unwrap();
        click_link(&c, "deeper/").await;
        click_link(&c, "leaf.txt").await;
        assert_eq!(body_text(&c).await.trim_end(), "the leaf at the bottom");
        go_back(&c).await;
        go_back(&c).await;
        assert!(body_text(&c).await.contains("sibling.txt"));
        // The breadcrumb's first link climbs to the root.
        click_link(&c, "/").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/");

        // Each awkward name opens its own file.
        for name in AWKWARD {
            click_link(&c, name).await;
            assert_eq!(
                body_text(&c).await.trim_end(),
                format!("contents of {name}")
            );
            go_back(&c).await;
        }
        click_link(&c, "<script>alert(1)</").await;
        click_link(&c, "script>.txt").await;
        assert_eq!(body_text(&c).await.trim_end(), "not a script");
        c
    });

    // Every page and file clicked was found; the browser's own asks for
    // /favicon.ico (there is none here) are the only 404s.
    let log = log.lock().unwrap();
    let failed: Vec<_> = log
        .iter()
        .filter(|(p, s)| *s != 200 && p != "/favicon.ico")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let asked: Vec<String> = log
        .iter()
        .map(|(p, _)| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    for name in AWKWARD {
        assert!(asked.contains(&format!("/{name}")), "{name} in {asked:?}");
    }
    assert!(
        asked.iter().any(|p| p == "/nested dir/deeper/leaf.txt"),
        "{asked:?}"
    );
}
