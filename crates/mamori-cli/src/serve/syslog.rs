//! Syslog receivers: UDP (one message per datagram), TCP and TCP+TLS with
//! RFC 6587 framing, octet counting (`LEN SP MSG`) or one message per line,
//! told apart by the first byte of each frame. Messages are gathered and
//! spooled twice a second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use mamori_event::SourceKind;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::watch;

use super::pipeline::Shared;

/// Longest message kept; longer frames are cut here (and counted rejected by the parser if unreadable).
const MAX_MESSAGE: usize = 64 * 1024;

/// Messages waiting to be spooled, one per line.
#[derive(Default)]
struct Gathered(Mutex<Vec<u8>>);

impl Gathered {
    fn push(&self, msg: &[u8]) {
        let msg = trim_end(msg);
        if msg.is_empty() {
            return;
        }
        if let Ok(mut buf) = self.0.lock() {
            // A message is one line: line breaks inside it become spaces.
            buf.extend(
                msg.iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
            buf.push(b'\n');
        }
    }

    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

fn trim_end(mut m: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | 0] = m {
        m = rest;
    }
    m
}

/// Starts the listeners `[serve.syslog]` names.
pub async fn start(
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> Result<()> {
    let cfg = shared.config.serve.syslog.clone();
    if cfg.udp.is_none() && cfg.tcp.is_none() && cfg.tls.is_none() {
        return Ok(());
    }
    let gathered = Arc::new(Gathered::default());
    if let Some(addr) = &cfg.udp {
        let sock = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("syslog UDP {addr}"))?;
        println!("mamori: syslog UDP on {}", sock.local_addr()?);
        let g = Arc::clone(&gathered);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                g.push(&buf[..n]);
            }
        });
    }
    if let Some(addr) = &cfg.tcp {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("syslog TCP {addr}"))?;
        println!("mamori: syslog TCP on {}", l.local_addr()?);
        let g = Arc::clone(&gathered);
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(read_stream(s, Arc::clone(&g)));
            }
        });
    }
    if let Some(addr) = &cfg.tls {
        let tls = tls.context("[serve.syslog] tls needs [serve] tls_cert and tls_key")?;
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("syslog TLS {addr}"))?;
        println!("mamori: syslog TLS on {}", l.local_addr()?);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let g = Arc::clone(&gathered);
        tokio::spawn(async move {
            while let Ok((s, peer)) = l.accept().await {
                let (acceptor, g) = (acceptor.clone(), Arc::clone(&g));
                tokio::spawn(async move {
                    match acceptor.accept(s).await {
                        Ok(t) => read_stream(t, g).await,
                        Err(e) => {
                            eprintln!("mamori: syslog TLS from {peer}: handshake failed: {e}")
                        }
                    }
                });
            }
        });
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let mut stop = stop;
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => false,
                _ = stop.changed() => true,
            };
            let batch = gathered.take();
            if !batch.is_empty() {
                let s = Arc::clone(&shared);
                let r = tokio::task::spawn_blocking(move || {
                    s.accept(&batch, Some(SourceKind::Syslog), "syslog")
                })
                .await;
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => eprintln!("mamori: syslog: {e:#}"),
                    Err(e) => eprintln!("mamori: syslog: {e}"),
                }
            }
            if stopping {
                return;
            }
        }
    });
    Ok(())
}

/// Reads frames until the peer closes or sends something unframeable.
async fn read_stream<S: AsyncRead + Unpin>(s: S, g: Arc<Gathered>) {
    let mut r = BufReader::new(s);
    loop {
        let first = match r.fill_buf().await {
            Ok([]) | Err(_) => return,
            Ok(b) => b[0],
        };
        if first.is_ascii_digit() {
            // Octet counting: digits, a space, then that many bytes.
            let mut len = Vec::new();
            if r.read_until(b' ', &mut len).await.is_err() {
                return;
            }
            let n = std::str::from_utf8(trim_space(&len))
                .ok()
                .and_then(|t| t.parse::<usize>().ok());
            let Some(n) = n.filter(|n| *n <= MAX_MESSAGE) else {
                eprintln!(
                    "mamori: syslog: bad octet count {:?}; closing",
                    String::from_utf8_lossy(&len)
                );
                return;
            };
            let mut msg = vec![0u8; n];
            if r.read_exact(&mut msg).await.is_err() {
                return;
            }
            g.push(&msg);
        } else {
            let mut line = Vec::new();
            match (&mut r)
                .take(MAX_MESSAGE as u64)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => return,
                Ok(_) => g.push(&line),
            }
        }
    }
}

fn trim_space(b: &[u8]) -> &[u8] {
    match b {
        [rest @ .., b' '] => rest,
        _ => b,
    }
}
