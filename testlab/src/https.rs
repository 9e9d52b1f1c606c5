//! A small HTTPS server on 127.0.0.1 for the tests: a test-CA certificate,
//! optional Basic auth and client-certificate checking, and replies that
//! misbehave on purpose (redirects, stalls, lies about size).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use data_encoding::BASE64;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::pki::Issued;

#[derive(Clone)]
pub enum Reply {
    /// 200 with this body and Content-Length.
    Body(Vec<u8>),
    /// 200 with `len` bytes of [`pattern`], streamed.
    Pattern(u64),
    /// 200 with this body, chunked: no length announced up front.
    Chunked(Vec<u8>),
    /// A redirect with this status and Location.
    Redirect(u16, String),
    /// Just this status.
    Status(u16),
    /// Read the request, then say nothing.
    Stall,
    /// 200 with this Content-Type and body.
    Typed(String, Vec<u8>),
    /// This body once, to a request with `Authorization: Bearer TOKEN`;
    /// 410 Gone after that, 401 without the token. See [`Reply::once`].
    Once {
        token: String,
        body: Vec<u8>,
        spent: Arc<AtomicBool>,
    },
}

impl Reply {
    /// A one-time link's bundle: served once for the token, then gone.
    pub fn once(token: &str, body: Vec<u8>) -> Reply {
        Reply::Once {
            token: token.to_string(),
            body,
            spent: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    /// The body a Content-Length announced (a POST's), up to 1 MiB.
    pub body: Vec<u8>,
}

pub struct Spec {
    pub identity: Issued,
    /// (login, password) every request must carry.
    pub auth: Option<(String, String)>,
    /// PEM of the CA that device certificates must chain to.
    pub client_ca: Option<String>,
    pub routes: HashMap<String, Reply>,
    /// Bytes per second for [`Reply::Pattern`] bodies, to model a real link.
    pub rate: Option<u64>,
    /// The loopback address to listen on.
    pub bind: std::net::IpAddr,
}

pub struct HttpsServer {
    pub port: u16,
    bind: std::net::IpAddr,
    pub log: Arc<Mutex<Vec<Logged>>>,
    stop: Arc<AtomicBool>,
}

impl HttpsServer {
    pub fn start(spec: Spec) -> HttpsServer {
        let listener = TcpListener::bind((spec.bind, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = Arc::new(server_config(&spec));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared_bind = spec.bind;
        let shared = Arc::new(spec);
        let (l, s) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (config, spec, log, stop) =
                    (config.clone(), shared.clone(), l.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, config, &spec, &log, &stop);
                });
            }
        });
        HttpsServer {
            port,
            bind: shared_bind,
            log,
            stop,
        }
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect((self.bind, self.port));
    }
}

fn server_config(spec: &Spec) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(spec.identity.cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(spec.identity.key_pem.as_bytes()).unwrap();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match &spec.client_ca {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    builder.with_single_cert(certs, key).unwrap()
}

fn serve(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    spec: &Spec,
    log: &Mutex<Vec<Logged>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    let Logged {
        method,
        path,
        headers,
        body,
    } = read_request(&mut tls)?;
    log.lock().unwrap().push(Logged {
        method,
        path: path.clone(),
        headers: headers.clone(),
        body,
    });
    if let Some((user, pass)) = &spec.auth {
        let want = format!(
            "Basic {}",
            BASE64.encode(format!("{user}:{pass}").as_bytes())
        );
        if headers.get("authorization") != Some(&want) {
            return respond(
                &mut tls,
                "401 Unauthorized",
                &[("WWW-Authenticate", "Basic realm=\"test\"".into())],
                b"",
            );
        }
    }
    let route = path.split('?').next().unwrap_or("");
    match spec.routes.get(route).cloned() {
        None => respond(&mut tls, "404 Not Found", &[], b"not found"),
        Some(Reply::Body(b)) => respond(
            &mut tls,
            "200 OK",
            &[("Content-Length", b.len().to_string())],
            &b,
        ),
        Some(Reply::Pattern(len)) => {
            write_head(&mut tls, "200 OK", &[("Content-Length", len.to_string())])?;
            // The pattern repeats every 251 bytes: one buffer of whole
            // periods serves every chunk, so the server costs next to nothing.
            let mut buf = vec![0u8; 251 * 256];
            fill_pattern(&mut buf, 0);
            let mut sent = 0u64;
            let t0 = std::time::Instant::now();
            while sent < len {
                let n = ((len - sent) as usize).min(buf.len());
                tls.write_all(&buf[..n])?;
                sent += n as u64;
                if let Some(rate) = spec.rate {
                    let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                    if let Some(ahead) = due.checked_sub(t0.elapsed()) {
                        std::thread::sleep(ahead);
                    }
                }
            }
            finish(&mut tls)
        }
        Some(Reply::Chunked(b)) => {
            write_head(
                &mut tls,
                "200 OK",
                &[("Transfer-Encoding", "chunked".into())],
            )?;
            for c in b.chunks(1000) {
                write!(tls, "{:x}\r\n", c.len())?;
                tls.write_all(c)?;
                tls.write_all(b"\r\n")?;
            }
            tls.write_all(b"0\r\n\r\n")?;
            finish(&mut tls)
        }
        Some(Reply::Redirect(code, to)) => respond(
            &mut tls,
            &format!("{code} Redirect"),
            &[("Location", to), ("Content-Length", "0".into())],
            b"",
        ),
        Some(Reply::Status(code)) => respond(
            &mut tls,
            &format!("{code} Status"),
            &[("Content-Length", "0".into())],
            b"",
        ),
        Some(Reply::Typed(content_type, b)) => {
            respond(&mut tls, "200 OK", &[("Content-Type", content_type)], &b)
        }
        Some(Reply::Once { token, body, spent }) => {
            let bearer = format!("Bearer {token}");
            if headers.get("authorization") != Some(&bearer) {
                let challenge = [("WWW-Authenticate", "Bearer".to_string())];
                respond(&mut tls, "401 Unauthorized", &challenge, b"")
            } else if spent.swap(true, Ordering::SeqCst) {
                respond(&mut tls, "410 Gone", &[], b"")
            } else {
                respond(&mut tls, "200 OK", &[], &body)
            }
        }
        Some(Reply::Stall) => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
    }
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

fn read_request(tls: &mut Tls) -> std::io::Result<Logged> {
    const MAX_BODY: u64 = 1024 * 1024;
    let mut reader = BufReader::new(Read::by_ref(tls).take(64 * 1024 + MAX_BODY));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let path = words.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: u64 = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(len.min(MAX_BODY)).read_to_end(&mut body)?;
    Ok(Logged {
        method,
        path,
        headers,
        body,
    })
}

fn write_head(tls: &mut Tls, status: &str, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes())
}

fn respond(
    tls: &mut Tls,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut headers = headers.to_vec();
    if !headers.iter().any(|(k, _)| *k == "Content-Length") {
        headers.push(("Content-Length", body.len().to_string()));
    }
    write_head(tls, status, &headers)?;
    tls.write_all(body)?;
    finish(tls)
}

fn finish(tls: &mut Tls) -> std::io::Result<()> {
    tls.conn.send_close_notify();
    tls.flush()
}

/// The bytes of a [`Reply::Pattern`] starting at `offset`.
pub fn fill_pattern(buf: &mut [u8], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((offset + i as u64) % 251) as u8;
    }
}
