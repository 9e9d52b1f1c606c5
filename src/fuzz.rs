//! What the fuzz targets call: each entry point runs one reader on the
//! fuzzer's bytes and checks what it can about the result.

use data_encoding::BASE64;

use crate::bundle::{self, Bundle};
use crate::json::{self, Json};
use crate::settings::Value;

/// Reads `data` with the JSON reader. An accepted document comes back
/// written as serde_json writes a value (compact, members in order, the
/// same escapes), so the target can hold the two readers against each
/// other; a refused one comes back as its error message. Panics if an
/// accessor disagrees with the tree.
pub fn json(data: &[u8]) -> Result<String, String> {
    let value = json::parse(data).map_err(|e| e.to_string())?;
    check(&value);
    let mut out = String::new();
    write(&value, &mut out);
    Ok(out)
}

/// What the accessors say must match the tree, all the way down.
fn check(value: &Json) {
    assert!(!value.kind().is_empty());
    match value {
        Json::Null => assert!(value.as_bool().is_none() && value.as_str().is_none()),
        Json::Bool(b) => assert_eq!(value.as_bool(), Some(*b)),
        // A number read as an integer is written back the same: the
        // grammar leaves one way to write it.
        Json::Number(n) => {
            if let Some(u) = value.as_u64() {
                assert_eq!(u.to_string(), *n);
            }
        }
        Json::String(s) => assert_eq!(value.as_str(), Some(s.as_str())),
        Json::Array(items) => {
            assert_eq!(value.as_array().map(<[Json]>::len), Some(items.len()));
            items.iter().for_each(check);
        }
        Json::Object(members) => {
            assert_eq!(value.as_object().map(<[_]>::len), Some(members.len()));
            for (key, member) in members {
                assert!(value.get(key).is_some_and(|v| std::ptr::eq(v, member)));
                check(member);
            }
        }
    }
}

fn write(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write_number(n, out),
        Json::String(s) => write_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (key, member)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(key, out);
                out.push(':');
                write(member, out);
            }
            out.push('}');
        }
    }
}

/// As serde_json writes a number it keeps as written: the exponent as
/// `e+N` or `e-N`.
fn write_number(n: &str, out: &mut String) {
    match n.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let sign = if exponent.starts_with(['+', '-']) {
                ""
            } else {
                "+"
            };
            out.push_str(&format!("{mantissa}e{sign}{exponent}"));
        }
        None => out.push_str(n),
    }
}

/// Escapes as serde_json does: the quote, the backslash, and control
/// characters, by their short name where JSON has one.
fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads `data` as a link document (and as an RFC 3339 time, the one
/// format inside it with a reader of its own). Panics if an accepted
/// document breaks a promise `open` relies on.
pub fn link(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(t) = crate::clock::parse_rfc3339(text) {
            // Every accepted time is one the writer can write back.
            assert!(crate::clock::parse_rfc3339(&crate::clock::rfc3339(t)).is_some());
        }
    }
    let Ok(link) = crate::link::parse(data) else {
        return;
    };
    assert_eq!(link.url.scheme(), "https");
    assert!(link.url.username().is_empty() && link.url.password().is_none());
    if let Some(token) = &link.token {
        assert!(token.secret().bytes().all(|b| b.is_ascii_graphic()));
    }
    if let Some(d) = &link.domain {
        assert!(crate::net::dns::domain_name(d).as_deref() == Some(d.as_str()));
    }
}

/// Reads `data` as a bundle. Panics if reading it again gives another
/// result, or if an accepted bundle breaks a promise the run relies on:
/// its properties are what the document says, under valid unique names.
pub fn bundle(data: &[u8]) {
    let Ok(b) = bundle::parse(data) else {
        return;
    };
    assert_eq!(bundle::parse(data).as_ref(), Ok(&b));
    let doc = json::parse(data).expect("an accepted bundle is JSON");
    check_properties(&b, &doc);
    // The progress log is requested like any URL: never plain http.
    if let Some(u) = &b.report_url {
        assert!(crate::net::http::check_url(u).is_ok(), "{u}");
    }
    if let Some(c) = &b.configurator {
        assert!(!c.packages.is_empty());
        assert!(c.command.program.as_str().starts_with('/'));
        // A package's own architecture finds a package of it, and the
        // step line can be written for that.
        for p in &c.packages {
            let found = c.package_for(&p.arch).expect("a package for its own arch");
            assert_eq!(found.arch, p.arch);
            assert!(!c.describe(b.holder.as_deref(), found).is_empty());
        }
    }
}

/// Each property is a member of the document's `properties`, in order:
/// text under its name, bytes under `name@base64` as canonical Base64.
fn check_properties(b: &Bundle, doc: &Json) {
    let members = doc
        .get("properties")
        .and_then(Json::as_object)
        .unwrap_or_default();
    assert_eq!(members.len(), b.properties.len());
    assert!(b.properties.len() <= 256);
    for ((key, value), (name, got)) in members.iter().zip(&b.properties) {
        assert!(is_property_name(name), "{name:?}");
        assert_eq!(b.properties.iter().filter(|(n, _)| n == name).count(), 1);
        let (want_key, want, size) = match got {
            Value::Text(t) => (name.clone(), t.clone(), t.len()),
            Value::Bytes(bytes) => (format!("{name}@base64"), BASE64.encode(bytes), bytes.len()),
        };
        assert!(size <= 64 * 1024);
        assert_eq!((key, value.as_str()), (&want_key, Some(want.as_str())));
    }
}

/// Written apart from bundle.rs's check, from the format's rule: dotted
/// labels of lowercase letters, digits, `-` and `_`, starting with a
/// letter, 128 bytes at most.
fn is_property_name(name: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
    };
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('.').all(label)
}

/// The dictionary's readers of outside text: props.txt and settings files
/// (from the vendor or a removable medium), the storage file and the
/// receipt (from a disk that may have failed), and the `prm.media.dirs`
/// pattern matcher. No
/// panic, no hang; what is accepted keeps its promises.
pub fn props(data: &[u8]) {
    use crate::settings::text::{self, Name};
    use crate::state::storage;

    if let Ok(text) = std::str::from_utf8(data) {
        for parse in [text::parse_props_txt, text::parse_properties] {
            for line in parse(text).unwrap_or_default() {
                // Every accepted key is a key, under its own name.
                assert_eq!(Name::parse(line.name.as_str()).as_ref(), Ok(&line.name));
                assert!(!line.value.is_empty() && !line.value.contains('\n'));
            }
        }
        // The first line as a pattern, the second as a name.
        let mut parts = text.splitn(2, '\n');
        let (pattern, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let matched = crate::settings::wildcard(pattern, name);
        if !pattern.contains('*') {
            assert_eq!(matched, pattern == name);
        }
    }
    // A storage file that reads is written back to the same contents; the
    // body is tried alone too, as the fuzzer seldom gets a SHA-256 right.
    for stored in [storage::decode(data), storage::decode_body(data)] {
        if let Ok(stored) = stored {
            assert_eq!(storage::decode(&storage::encode(&stored)), Ok(stored));
        }
    }
    if let Ok(receipt) = crate::state::Receipt::from_json(data) {
        let again = crate::state::Receipt::from_json(receipt.to_json().as_bytes());
        assert_eq!(again, Ok(receipt));
    }
}

/// A request to `preconf listen`'s push endpoint, read as a client would
/// send it (src/listen/request.rs), its form and login (src/listen/push.rs),
/// and a push password hash as a settings file holds it: no panic, no
/// hang, every bound kept, and what is accepted reads back the same.
pub fn rminit(data: &[u8]) {
    use crate::listen::auth::PasswordHash;
    use crate::listen::{push, request};

    if let Ok(req) = request::read(&mut OneWay(data)) {
        assert!(req.body.len() <= request::MAX_BODY);
        let _ = push::basic(&req);
    }
    if let Ok(fields) = push::form(data) {
        let mut again = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &fields {
            again.append_pair(name, value);
        }
        assert_eq!(push::form(again.finish().as_bytes()), Ok(fields));
    }
    let text = String::from_utf8_lossy(data);
    assert!(
        push::header_safe(&text)
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ')
    );
    if let Ok(hash) = PasswordHash::parse(&text) {
        assert!(PasswordHash::parse(&hash.text()) == Ok(hash));
    }
}

/// The fuzzer's bytes as a client's side of a connection; what the
/// server writes back goes nowhere.
struct OneWay<'a>(&'a [u8]);

impl std::io::Read for OneWay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

impl std::io::Write for OneWay<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The discovery datagrams (src/listen/discovery.rs): only the one probe
/// text is a probe; the answer written with the input as the spid is
/// bounded, printable ASCII, six fields that read back; and the rate
/// limiter, fed probes from addresses and at times the input picks, lets
/// no more through than its limits.
pub fn probe(data: &[u8]) {
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use crate::listen::discovery::{self, Answer, Limiter};

    let p = discovery::PROBE.as_bytes();
    let exact = [p.to_vec(), [p, b"\n"].concat(), [p, b"\r\n"].concat()];
    assert_eq!(discovery::is_probe(data), exact.iter().any(|e| e == data));

    let spid = String::from_utf8_lossy(data).into_owned();
    let mut ip = [0u8; 4];
    for (i, b) in data.iter().take(4).enumerate() {
        ip[i] = *b;
    }
    let answer = Answer {
        spid: Some(spid.clone()),
        scheme: if data.len() % 2 == 0 { "https" } else { "http" },
        port: u16::try_from(data.len()).unwrap_or(u16::MAX),
        provisioned: data.first().is_some_and(|b| b & 1 == 1),
        host: None,
    };
    let host = IpAddr::V4(Ipv4Addr::from(ip));
    let text = discovery::encode(&answer, host);
    assert!(text.len() <= discovery::MAX_ANSWER);
    assert!(text.bytes().all(|b| b.is_ascii_graphic()));
    let fields: Vec<&str> = text.split('#').collect();
    assert_eq!(fields.len(), 6, "{text}");
    // An empty spid field is an empty spid, or one too long to send.
    if !fields[0].is_empty() {
        assert_eq!(discovery::decode_spid(fields[0]).as_ref(), Some(&spid));
    }
    assert_eq!(fields[1], host.to_string());
    assert_eq!(fields[2], answer.port.to_string());
    assert_eq!(fields[3], answer.scheme);
    assert_eq!(fields[4], if answer.provisioned { "1" } else { "0" });
    assert!(fields[5].starts_with("preconf/"));

    // Each pair of bytes: the address's last byte, then up to 1 s later.
    let start = Instant::now();
    let mut now = start;
    let mut limiter = Limiter::new(start);
    let mut answered: HashMap<u8, Instant> = HashMap::new();
    let mut granted = 0u128;
    for pair in data.chunks(2) {
        now += Duration::from_millis(u64::from(pair.get(1).copied().unwrap_or(0)) * 4);
        if limiter.allow(IpAddr::V4(Ipv4Addr::new(198, 51, 100, pair[0])), now) {
            granted += 1;
            if let Some(before) = answered.insert(pair[0], now) {
                assert!(now - before >= Duration::from_secs(1));
            }
        }
        assert!(limiter.remembered() <= 64);
    }
    // A burst of 10, then one every 200 ms.
    assert!(granted <= 10 + (now - start).as_millis() / 200);
}
