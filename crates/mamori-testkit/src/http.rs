//! A real HTTP server on loopback for notification tests: it records every
//! request and answers as the test's responder says — including 5xx,
//! refusals, slow answers and answers that never come.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// `POST`, `PATCH`, `GET`…
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Received {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How to answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status and body (JSON content type when the body looks like JSON).
    Status(u16, String),
    /// This status and body, with a `Retry-After` header of so many seconds.
    RetryAfter(u16, u64),
    /// Wait, then answer.
    Slow(Duration, u16, String),
    /// Never answer (the connection stays open until the receiver stops).
    Hang,
}

type Responder = dyn Fn(&Received, usize) -> Reply + Send + Sync;

/// An HTTP server on `127.0.0.1` and a free port.
pub struct HttpReceiver {
    server: Arc<tiny_http::Server>,
    requests: Arc<Mutex<Vec<Received>>>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl HttpReceiver {
    /// Starts a receiver; `respond(request, n)` decides each answer, `n`
    /// counting the requests received so far (0 for the first).
    pub fn start(
        respond: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> HttpReceiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .expect("an IP address");
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let (srv, reqs) = (Arc::clone(&server), Arc::clone(&requests));
        let thread = std::thread::spawn(move || {
            for mut rq in srv.incoming_requests() {
                let mut body = String::new();
                let _ = rq.as_reader().read_to_string(&mut body);
                let got = Received {
                    method: rq.method().as_str().to_owned(),
                    path: rq.url().to_owned(),
                    headers: rq
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.as_str().to_owned(),
                            )
                        })
                        .collect(),
                    body,
                };
                let n = {
                    let mut all = reqs.lock().expect("requests");
                    all.push(got.clone());
                    all.len() - 1
                };
                let respond = Arc::clone(&respond);
                // One thread per request: a hanging answer does not hold up the next.
                std::thread::spawn(move || {
                    let reply = respond(&got, n);
                    let (status, body, retry_after) = match reply {
                        Reply::Status(s, b) => (s, b, None),
                        Reply::RetryAfter(s, secs) => (s, String::new(), Some(secs)),
                        Reply::Slow(d, s, b) => {
                            std::thread::sleep(d);
                            (s, b, None)
                        }
                        Reply::Hang => {
                            std::thread::sleep(Duration::from_secs(3600));
                            return;
                        }
                    };
                    let json = body.starts_with('{') || body.starts_with('[');
                    let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
                    let ct = if json {
                        "application/json"
                    } else {
                        "text/plain"
                    };
                    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", ct) {
                        resp.add_header(h);
                    }
                    if let Some(secs) = retry_after {
                        if let Ok(h) =
                            tiny_http::Header::from_bytes("Retry-After", secs.to_string())
                        {
                            resp.add_header(h);
                        }
                    }
                    let _ = rq.respond(resp);
                });
            }
        });
        HttpReceiver {
            server,
            requests,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
