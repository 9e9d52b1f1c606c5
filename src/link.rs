//! The link document, format 1: what a one-time link from the IT
//! department hands to `preconf open`. It names the bundle's URL, and may
//! carry a one-time token, the company's domain, an expiry time and the
//! SHA-256 of the CA the server must chain to. It can narrow the device's
//! trust, never widen it.
//!
//! Unknown fields are ignored so the format can grow; a known field with a
//! wrong value is refused, naming the field.

use std::fmt;

use url::Url;

use crate::clock;
use crate::json::{self, Json};
use crate::net::dns;
use crate::net::http::check_url;

/// The content type a server must serve the document with.
pub(crate) const MEDIA_TYPE: &str = "application/x-maemo-autoconfiguration";

/// A link document is a few lines; anything bigger is not one.
pub(crate) const MAX_SIZE: u64 = 64 * 1024;

const FORMAT: u64 = 1;

/// A checked link document.
#[derive(Debug)]
pub(crate) struct Link {
    /// The bundle's URL: https, no login in it.
    pub(crate) url: Url,
    pub(crate) token: Option<Token>,
    /// Shown to the person, and held to by the guard.
    pub(crate) domain: Option<String>,
    /// Unix seconds after which the link is refused.
    pub(crate) expires: Option<i64>,
    /// SHA-256 of a CA certificate's DER that the server must chain to.
    pub(crate) ca_sha256: Option<[u8; 32]>,
}

/// A one-time bearer token. Never printed: Debug and every message show
/// only that there is one.
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Parses and checks a document; the error is a phrase naming the problem.
pub(crate) fn parse(bytes: &[u8]) -> Result<Link, String> {
    let doc = json::parse(bytes).map_err(|e| format!("it is not JSON ({e})"))?;
    if doc.as_object().is_none() {
        return Err(format!("it is {}, not a JSON object", doc.kind()));
    }
    match doc.get("format") {
        None => return Err("it has no \"format\"; format 1 is expected".into()),
        Some(f) if f.as_u64() == Some(FORMAT) => {}
        Some(f) => {
            return Err(format!(
                "\"format\" is {}, and this preconf reads format {FORMAT}; update preconf or ask for a format-{FORMAT} link",
                shown(f)
            ));
        }
    }
    let url = text(&doc, "url")?.ok_or("it has no \"url\" naming the bundle")?;
    Ok(Link {
        url: bundle_url(url)?,
        token: text(&doc, "token")?.map(token).transpose()?,
        domain: text(&doc, "domain")?.map(domain).transpose()?,
        expires: text(&doc, "expires")?.map(expires).transpose()?,
        ca_sha256: text(&doc, "ca_sha256")?.map(ca_sha256).transpose()?,
    })
}

/// An optional string field; null counts as absent.
fn text<'a>(doc: &'a Json, field: &str) -> Result<Option<&'a str>, String> {
    match doc.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| format!("\"{field}\" must be a string, not {}", v.kind())),
    }
}

fn bundle_url(text: &str) -> Result<Url, String> {
    let https = text.split_at_checked(8);
    let Some((_, rest)) = https.filter(|(scheme, _)| scheme.eq_ignore_ascii_case("https://"))
    else {
        return Err(
            "\"url\" must be an https:// URL; preconf never fetches over plain http".into(),
        );
    };
    let text = plain_host(rest).ok_or(
        "\"url\" must name its server by an ASCII DNS name or an IP address (international names are not supported)",
    )?;
    let url = Url::parse(&text).map_err(|e| format!("\"url\" is not a URL ({e})"))?;
    check_url(&url).map_err(|why| format!("\"url\" {why}"))?;
    Ok(url)
}

/// `https://` and `rest` with its authority in lower case, if that is a
/// plain ASCII host name (no punycode `xn--` label) or IP address and
/// port: all a link may name, and all the URL parser's host handling is
/// built for here (its no-Unicode IDNA back end, which keeps the binary
/// small, refuses international names and expects nothing else).
fn plain_host(rest: &str) -> Option<String> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b);
    let lower = authority.to_ascii_lowercase();
    let punycode = lower
        .split(['.', ':'])
        .any(|label| label.starts_with("xn--"));
    if authority.is_empty() || !authority.bytes().all(plain) || punycode {
        return None;
    }
    Some(format!("https://{lower}{}", &rest[end..]))
}

/// The token goes into an HTTP header: printable ASCII, no spaces, and a
/// sane length.
fn token(text: &str) -> Result<Token, String> {
    let ok = (1..=4096).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err("\"token\" must be 1 to 4096 printable ASCII characters without spaces".into());
    }
    Ok(Token(text.to_string()))
}

fn domain(text: &str) -> Result<String, String> {
    dns::domain_name(text)
        .ok_or_else(|| "\"domain\" is not a domain name such as example.com".to_string())
}

fn expires(text: &str) -> Result<i64, String> {
    clock::parse_rfc3339(text).ok_or_else(|| {
        "\"expires\" is not an RFC 3339 time such as 2026-12-01T12:00:00Z".to_string()
    })
}

fn ca_sha256(text: &str) -> Result<[u8; 32], String> {
    let bad =
        || "\"ca_sha256\" must be 64 hex digits, the SHA-256 of a CA certificate's DER".to_string();
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// A value as it may be shown in a message: numbers as written, the rest
/// by kind (a string here could be anything).
fn shown(v: &Json) -> String {
    match v {
        Json::Number(n) if n.len() <= 20 => n.clone(),
        other => other.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{ "format": 1,
        "url": "https://cfg.example.com/preconf/bundle.json",
        "token": "kq3-Zt_9",
        "domain": "Example.COM",
        "expires": "2026-12-01T12:00:00Z",
        "ca_sha256": "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
        "future": {"nested": [1, 2]} }"#;

    #[test]
    fn reads_every_field() {
        let l = parse(FULL.as_bytes()).unwrap();
        assert_eq!(
            l.url.as_str(),
            "https://cfg.example.com/preconf/bundle.json"
        );
        assert_eq!(l.token.as_ref().unwrap().secret(), "kq3-Zt_9");
        assert_eq!(l.domain.as_deref(), Some("example.com"));
        assert_eq!(l.expires, Some(1_796_126_400));
        assert_eq!(l.ca_sha256.unwrap()[31], 0xff);
        assert!(!format!("{l:?}").contains("kq3"));
    }

    #[test]
    fn only_url_is_required() {
        let l = parse(br#"{"format":1,"url":"https://cfg.example.com/b","token":null}"#).unwrap();
        assert!(l.token.is_none() && l.domain.is_none() && l.expires.is_none());
    }

    #[test]
    fn each_bad_field_is_named() {
        let with = |field: &str, value: &str| {
            let doc = match field {
                "url" => format!(r#"{{"format":1,"url":{value}}}"#),
                _ => format!(r#"{{"format":1,"url":"https://a.example/","{field}":{value}}}"#),
            };
            parse(doc.as_bytes()).unwrap_err()
        };
        assert!(with("url", r#""http://cfg.example.com/b""#).contains("\"url\""));
        for host in [
            "bücher.example",
            "a,b.example",
            "%41.example",
            "u:p@a.example",
        ] {
            let e = with("url", &format!("\"https://{host}/\""));
            assert!(e.contains("by an ASCII DNS name"), "{host}: {e}");
        }
        let l = parse(br#"{"format":1,"url":"HTTPS://CFG.Example.COM:8443/B?x=Y"}"#).unwrap();
        assert_eq!(l.url.as_str(), "https://cfg.example.com:8443/B?x=Y");
        assert!(with("url", "7").contains("\"url\" must be a string, not a number"));
        assert!(with("token", r#""two words""#).contains("\"token\""));
        assert!(with("token", r#""""#).contains("\"token\""));
        assert!(with("domain", r#""not a domain""#).contains("\"domain\""));
        assert!(with("expires", r#""tomorrow""#).contains("\"expires\""));
        assert!(with("ca_sha256", r#""abcd""#).contains("\"ca_sha256\""));
        assert!(with("ca_sha256", &format!("\"{}\"", "zz".repeat(32))).contains("\"ca_sha256\""));
    }

    #[test]
    fn refuses_what_is_not_a_document() {
        for (doc, says) in [
            ("", "not JSON"),
            ("[1]", "an array, not a JSON object"),
            (r#"{"url":"https://cfg.example.com/b"}"#, "no \"format\""),
            (r#"{"format":1}"#, "no \"url\""),
            (r#"{"format":1,"url":"https://a.example/"} x"#, "not JSON"),
            (
                r#"{"format":1,"url":"https://a.example/","zzz": }"#,
                "not JSON",
            ),
            (
                r#"{"format":"1","url":"https://a.example/"}"#,
                "\"format\" is a string",
            ),
            (
                r#"{"format":2,"url":"https://a.example/"}"#,
                "\"format\" is 2",
            ),
        ] {
            let e = parse(doc.as_bytes()).unwrap_err();
            assert!(e.contains(says), "{doc}: {e}");
        }
    }
}
