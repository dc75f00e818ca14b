//! The web console in real headless Chromium (Debian's chromium and
//! chromedriver, WebDriver through fantoccini): sign in with a token, run a
//! seed query, open a finding, resolve it. Screenshots of each step are
//! saved under `<target>/tmp/console-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{free_port, Server};
use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> (Driver, u16) {
    let port = free_port();
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "chromedriver not found: install Debian's chromium and chromium-driver (.ci/run does)",
        );
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Driver(child), port)
}

fn shots() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&d).expect("screenshot dir");
    d
}

#[test]
fn sign_in_search_open_and_resolve_a_finding_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // The demo data set: the built-in samples, with findings from them.
    let s = Server::start(&data, "", &["--demo"]);
    let analyst = s.ok(
        "POST",
        "/api/tokens",
        &s.admin,
        json!({ "name": "ana", "role": "analyst" }),
    )["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let before = s.wait_for(15, "demo findings", || {
        let v = s.ok("GET", "/api/findings?status=NEW", &analyst, Value::Null);
        v["findings"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(Vec::len)
    });
    let (_driver, port) = chromedriver();
    let profile = tempfile::tempdir().expect("profile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1400,1000", format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        let shot = |name: &'static str| {
            let c = c.clone();
            async move {
                let png = c.screenshot().await.expect("screenshot");
                std::fs::write(shots().join(name), png).expect("save screenshot");
            }
        };
        let wait = Duration::from_secs(20);

        // Sign in with the token.
        c.goto(&format!("{}/", s.base)).await.expect("open console");
        let input = c.wait().at_most(wait).for_element(Locator::Id("token")).await.expect("sign-in form");
        shot("01-sign-in.png").await;
        input.send_keys(&analyst).await.expect("type token");
        c.find(Locator::Id("signin")).await.expect("button").click().await.expect("click");
        c.wait().at_most(wait).for_element(Locator::Id("findings-table")).await.expect("the findings queue");
        let who = c.find(Locator::Id("who")).await.expect("who").text().await.expect("text");
        assert_eq!(who, "ana (analyst)");

        // Run the seed query.
        c.goto(&format!("{}/#/search", s.base)).await.expect("search page");
        let q = c.wait().at_most(wait).for_element(Locator::Id("query")).await.expect("editor");
        q.clear().await.expect("clear");
        q.send_keys("fields @timestamp, @source, eventName, @message | filter @source = 'cloudtrail' | sort @timestamp desc | limit 50")
            .await
            .expect("type query");
        c.find(Locator::Id("run")).await.expect("run").click().await.expect("click run");
        let count = c.wait().at_most(wait).for_element(Locator::Id("rowcount")).await.expect("results");
        let text = count.text().await.expect("text");
        let rows: u64 = text.split(' ').next().and_then(|n| n.parse().ok()).expect("a row count");
        assert!(rows > 0, "{text}");
        // Expand the first row: its original JSON.
        c.find(Locator::Css("#result-table tbody tr.clickable")).await.expect("a row").click().await.expect("expand");
        let pre = c.wait().at_most(wait).for_element(Locator::Css("#result-table pre.json")).await.expect("original JSON");
        assert!(pre.text().await.expect("json").contains("eventName"));
        shot("02-search.png").await;

        // Open a finding and resolve it.
        c.goto(&format!("{}/#/findings?status=NEW", s.base)).await.expect("findings");
        let row = c.wait().at_most(wait).for_element(Locator::Css("#findings-table tbody tr.clickable")).await.expect("a finding");
        shot("03-findings.png").await;
        row.click().await.expect("open finding");
        let resolve = c.wait().at_most(wait).for_element(Locator::Id("resolve")).await.expect("workflow buttons");
        c.wait().at_most(wait).for_element(Locator::Css("#finding-timeline table")).await.expect("the finding's timeline");
        shot("04-finding.png").await;
        resolve.click().await.expect("resolve");
        c.wait()
            .at_most(wait)
            .for_element(Locator::XPath("//span[@id='status' and text()='RESOLVED']"))
            .await
            .expect("the status shown as RESOLVED");
        shot("05-resolved.png").await;
        c.close().await.expect("close");
    });
    let after = s.ok("GET", "/api/findings?status=NEW", &analyst, Value::Null)["findings"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        after,
        before - 1,
        "one finding resolved through the console"
    );
    let resolved = s.ok(
        "GET",
        "/api/findings?status=RESOLVED",
        &analyst,
        Value::Null,
    );
    assert_eq!(resolved["findings"][0]["status"], "RESOLVED");
    for f in [
        "01-sign-in.png",
        "02-search.png",
        "03-findings.png",
        "04-finding.png",
        "05-resolved.png",
    ] {
        let len = std::fs::metadata(shots().join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "{f}: screenshot missing");
    }
}
