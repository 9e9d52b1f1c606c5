//! Just enough of URLs for this tool: absolute `https://` URLs, and joining
//! a relative reference onto one.
//!
//! Hand-written instead of the `url` crate, which carries IDNA tables worth
//! more than the rest of this binary; we only ever handle https URLs from
//! DNS names, addresses and bundle references.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    /// Lower-case name, IPv4 address, or IPv6 address without brackets.
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or("it has no scheme such as https://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(format!("the scheme {other}: is not supported")),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err("credentials in URLs are not accepted".into());
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("the port {p} is not a number"))?,
            None => default_port,
        };
        if host.is_empty() {
            return Err("it has no host".into());
        }
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("it contains spaces or control characters".into());
        }
        Ok(Url {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path,
        })
    }

    /// Resolves `reference` (absolute, `//host…`, `/path` or `relative/path`)
    /// against this URL, as a browser would.
    pub fn join(&self, reference: &str) -> Result<Url, String> {
        if reference.contains("://") {
            return Url::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let (ref_path, query) = match reference.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (reference, None),
        };
        let base_path = self.path.split('?').next().unwrap_or("/");
        let merged = if ref_path.starts_with('/') {
            ref_path.to_string()
        } else if ref_path.is_empty() {
            base_path.to_string()
        } else {
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{ref_path}")
        };
        let mut path = remove_dot_segments(&merged);
        if let Some(q) = query {
            path = format!("{path}?{q}");
        }
        Url::parse(&format!("{}://{}{}", self.scheme, self.authority(), path))
    }

    /// Scheme, host and port: what decides where credentials may go.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{host}:{}", self.port)
    }

    /// The last path segment, for file names in messages.
    pub fn file_name(&self) -> &str {
        let path = self.path.split('?').next().unwrap_or("");
        path.rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("download")
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = matches!(
            (self.scheme.as_str(), self.port),
            ("https", 443) | ("http", 80)
        );
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if default {
            write!(f, "{}://{}{}", self.scheme, host, self.path)
        } else {
            write!(f, "{}://{}:{}{}", self.scheme, host, self.port, self.path)
        }
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("its IPv6 address lacks a closing ]")?;
        return match after {
            "" => Ok((host, None)),
            a => a
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| "junk after the IPv6 address".into()),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// RFC 3986 section 5.2.4, for paths without a query.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i == segments.len() - 1;
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u = Url::parse("https://CFG.Example.com:8443/bundle?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("cfg.example.com", 8443, "/bundle?x=1")
        );
        assert_eq!(Url::parse("https://[::1]/").unwrap().host, "::1");
        assert_eq!(Url::parse("https://h").unwrap().to_string(), "https://h/");
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("https://u:p@h/").is_err());
        assert!(Url::parse("https://h:99999/").is_err());
    }

    #[test]
    fn joins() {
        let b = Url::parse("https://cfg.example.com:8443/api/bundle?u=1").unwrap();
        assert_eq!(
            b.join("pkgs/a.deb").unwrap().to_string(),
            "https://cfg.example.com:8443/api/pkgs/a.deb"
        );
        assert_eq!(b.join("../pkgs/a.deb").unwrap().path, "/pkgs/a.deb");
        assert_eq!(b.join("/p/x.sh?v=2").unwrap().path, "/p/x.sh?v=2");
        assert_eq!(
            b.join("//cdn.example.com/x").unwrap().to_string(),
            "https://cdn.example.com/x"
        );
        assert_eq!(b.join("http://evil/x").unwrap().scheme, "http");
        assert_eq!(b.join("../../../../x").unwrap().path, "/x");
    }

    #[test]
    fn origins() {
        let a = Url::parse("https://h:8443/a").unwrap();
        assert!(a.same_origin(&Url::parse("https://H:8443/b").unwrap()));
        assert!(!a.same_origin(&Url::parse("https://h/b").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://h:8443/b").unwrap()));
    }
}
