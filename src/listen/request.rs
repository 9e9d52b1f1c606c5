//! One request on the push endpoint: read within bounds (head, headers,
//! body, time), parsed by httparse, and one answer with a real status
//! code. A client that is slow, idle or too large is dropped or refused;
//! it never holds more than its own connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The request line and headers together.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
pub(crate) const MAX_HEADERS: usize = 32;
/// A form of properties: a reference, an id, perhaps a PEM certificate.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// A client has this long for its whole request, TLS handshake included:
/// one byte a second never gets there.
pub(crate) const CONNECTION_TIME: Duration = Duration::from_secs(10);

pub(crate) struct Request {
    pub(crate) method: String,
    /// Without the query.
    pub(crate) path: String,
    pub(crate) query: String,
    /// Names in lowercase.
    headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// An answer: status, headers, a one-line text body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) code: u16,
    headers: Vec<(&'static str, String)>,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn new(code: u16, text: impl Into<String>) -> Answer {
        Answer {
            code,
            headers: Vec::new(),
            text: text.into(),
        }
    }

    pub(crate) fn with(mut self, name: &'static str, value: String) -> Answer {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.code, reason(self.code));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        // 204 has no body, by definition.
        let body = match self.code {
            204 => String::new(),
            _ => format!("{}\n", self.text),
        };
        if !body.is_empty() {
            head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        head.into_bytes()
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

/// Why no request came: an answer to send, or nothing (the client went
/// silent or away, or broke the TLS handshake), with why, for the log.
pub(crate) enum Failed {
    Answer(Answer),
    Dropped(String),
}

/// Reads one request from `stream`, which keeps the connection's deadline
/// itself ([`Bounded`]): the TLS handshake reads through it too.
pub(crate) fn read(stream: &mut impl ReadWrite) -> Result<Request, Failed> {
    let mut buf = Vec::with_capacity(1024);
    let (head_len, mut request) = loop {
        if let Some(parsed) = parse_head(&buf).map_err(Failed::Answer)? {
            break parsed;
        }
        if buf.len() >= MAX_HEAD {
            return Err(Failed::Answer(Answer::new(
                431,
                format!("The request line and headers exceed {MAX_HEAD} bytes."),
            )));
        }
        fill(stream, &mut buf, MAX_HEAD)?;
    };
    let length = body_length(&request).map_err(Failed::Answer)?;
    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case(b"100-continue"))
    {
        // curl waits for this before sending a body of more than 1 KiB.
        let _ = stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| stream.flush());
    }
    buf.drain(..head_len);
    while buf.len() < length {
        fill(stream, &mut buf, length)?;
    }
    buf.truncate(length);
    request.body = buf;
    Ok(request)
}

/// Both directions of a connection, plain or TLS.
pub(crate) trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A client's socket that no read outlives the connection's deadline on:
/// each sets the socket's timeout to the time left, and none starts after
/// it. Whoever reads through it (our reader, rustls
/// during the handshake) is held to the same clock.
pub(crate) struct Bounded {
    pub(crate) tcp: TcpStream,
    pub(crate) deadline: Instant,
}

impl Bounded {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

/// Writes are small (a TLS flight, an answer of a few hundred bytes) and
/// the kernel takes them whole; their own timeout only stops a client that
/// reads nothing. Not the deadline: the answer goes out after it too.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

/// Reads more into `buf`, up to `limit` bytes in all.
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>, limit: usize) -> Result<(), Failed> {
    let mut chunk = [0u8; 4096];
    let want = (limit - buf.len()).min(chunk.len());
    match stream.read(&mut chunk[..want]) {
        Ok(0) => Err(Failed::Dropped("the client closed the connection".into())),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        // The socket's timeout ([`Bounded`]): the deadline has passed.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(Failed::Dropped(format!(
                "the request took longer than {} s",
                CONNECTION_TIME.as_secs()
            )))
        }
        Err(e) => Err(Failed::Dropped(e.to_string())),
    }
}

/// The request line and headers, once `buf` holds them all: their length
/// and the request, body still empty.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(usize, Request)>, Answer> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Answer::new(
                431,
                format!("A request has at most {MAX_HEADERS} headers."),
            ));
        }
        Err(e) => return Err(Answer::new(400, format!("Not an HTTP request ({e})."))),
    };
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some((
        len,
        Request {
            method: req.method.unwrap_or_default().to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect(),
            body: Vec::new(),
        },
    )))
}

/// The body's length: Content-Length, bounded; no chunked bodies.
fn body_length(request: &Request) -> Result<usize, Answer> {
    if request.header("transfer-encoding").is_some() {
        return Err(Answer::new(
            411,
            "Send the form with a Content-Length, not chunked.",
        ));
    }
    let lengths: Vec<&(String, Vec<u8>)> = request
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .collect();
    let length = match lengths.as_slice() {
        [] => return Ok(0),
        [(_, v)] => std::str::from_utf8(v)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok()),
        _ => None,
    };
    match length {
        None => Err(Answer::new(400, "The Content-Length is not one number.")),
        Some(n) if n > MAX_BODY as u64 => Err(Answer::new(
            413,
            format!("A push is at most {MAX_BODY} bytes."),
        )),
        Some(n) => Ok(n as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Request)>, Answer> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn heads() {
        let (len, r) = head("POST /rminit?a=b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("POST", "/rminit", "a=b")
        );
        assert_eq!(len, 57);
        assert_eq!(body_length(&r).ok(), Some(3));
        assert!(
            head("POST /rminit HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
        assert_eq!(head("\x00\x01 junk\r\n\r\n").err().unwrap().code, 400);
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(head(&many).err().unwrap().code, 431);
    }

    #[test]
    fn lengths() {
        let len = |h: &str| {
            let (_, r) = head(&format!("POST / HTTP/1.1\r\n{h}\r\n"))
                .unwrap()
                .unwrap();
            body_length(&r).map_err(|a| a.code)
        };
        assert_eq!(len(""), Ok(0));
        assert_eq!(len("Content-Length: 10\r\n"), Ok(10));
        assert_eq!(len("Content-Length: 99999999\r\n"), Err(413));
        assert_eq!(len("Content-Length: -1\r\n"), Err(400));
        assert_eq!(len("Content-Length: 1\r\nContent-Length: 1\r\n"), Err(400));
        assert_eq!(len("Transfer-Encoding: chunked\r\n"), Err(411));
    }

    #[test]
    fn answers() {
        let a = Answer::new(401, "Wrong login.")
            .with("WWW-Authenticate", "Basic realm=\"preconf\"".into());
        let text = String::from_utf8(a.bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nWrong login.\n"), "{text}");
        let none = String::from_utf8(Answer::new(204, "set").bytes()).unwrap();
        assert!(
            none.ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"),
            "{none}"
        );
    }
}
