//! Where settings come from.
//!
//! Every setting has a key (the long flag name, `dns`, `ca`, `server`, …).
//! Providers each yield `key=value` pairs with a rank; the highest-ranked
//! provider that has a key decides its value, a list included:
//!
//! | rank | provider |
//! |---|---|
//! | 1000 | the command line |
//! | 500+ | `ROOT/etc/preconf/*.conf`, in name order (later files win) |
//! | 0 | factory defaults built into the binary (`build.rs`) |
//!
//! The run only ever sees the typed [`Settings`] built from the merged
//! [`Dictionary`], so adding a provider never touches the steps.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Exit, Result, Step};
use crate::url::Url;

pub use crate::keys::{KEYS, Key, Kind, key};

/// Rank of the settings files in `ROOT/etc/preconf/`.
pub const RANK_FILES: i32 = 500;
/// Where settings files live, below the root.
pub const FILES_DIR: &str = "etc/preconf";

/// Merges the factory defaults, the settings files below the root and the
/// command line into the settings of this run.
pub fn load(cli: Layer) -> Result<Settings> {
    let factory = crate::factory::layer();
    // The root decides where the files are, so it is looked up without them;
    // the full check (absolute, …) comes with the merged settings below.
    let first = Dictionary::merge(vec![factory.clone(), cli.clone()]);
    let root = PathBuf::from(first.one("root").unwrap_or("/"));
    let mut layers = file_layers(&root.join(FILES_DIR))?;
    layers.push(factory);
    layers.push(cli);
    Settings::from_dictionary(&Dictionary::merge(layers))
}

/// One layer per `*.conf` file in `dir`; none when the directory is absent.
pub fn file_layers(dir: &Path) -> Result<Vec<Layer>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf") && p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let bad = |why: String| {
                Error::new(
                    Step::Settings,
                    Exit::Config,
                    format!("{}: {why}; fix the file.", path.display()),
                )
            };
            let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
            let pairs = crate::keys::parse_properties(&text).map_err(bad)?;
            Ok(Layer {
                source: path.display().to_string(),
                rank: RANK_FILES + i as i32,
                pairs,
            })
        })
        .collect()
}

/// Values of one provider, in the order it gave them.
#[derive(Clone)]
pub struct Layer {
    /// Shown in messages: "command line", a file name, "factory defaults".
    pub source: String,
    /// Higher wins.
    pub rank: i32,
    pub pairs: Vec<(String, String)>,
}

/// The merged view: for each key, its values and the provider they came from.
#[derive(Default)]
pub struct Dictionary {
    entries: BTreeMap<String, (String, Vec<String>)>,
}

impl Dictionary {
    pub fn merge(mut layers: Vec<Layer>) -> Dictionary {
        layers.sort_by_key(|l| l.rank);
        let mut dict = Dictionary::default();
        for layer in layers {
            let mut mine: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in layer.pairs {
                mine.entry(k).or_default().push(v);
            }
            for (k, vs) in mine {
                dict.entries.insert(k, (layer.source.clone(), vs));
            }
        }
        dict
    }

    fn values(&self, key: &str) -> &[String] {
        self.entries
            .get(key)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.values(key).last().map(String::as_str)
    }

    fn switch(&self, key: &str) -> bool {
        matches!(self.one(key), Some("true" | "yes" | "1"))
    }

    fn source(&self, key: &str) -> &str {
        self.entries
            .get(key)
            .map(|(s, _)| s.as_str())
            .unwrap_or("defaults")
    }

    fn bad(&self, key: &str, value: &str, why: &str) -> Error {
        Error::new(
            Step::Settings,
            Exit::Usage,
            format!("{key} '{value}' from {} {why}.", self.source(key)),
        )
    }
}

/// Everything a run needs to know, typed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub domain: Option<String>,
    pub lease_files: Vec<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    pub assume_yes: bool,
    pub service: String,
    pub dns: Vec<SocketAddr>,
    pub server: Option<Url>,
    pub user: Option<String>,
    pub device_id: Option<String>,
    pub cas: Vec<PathBuf>,
    pub system_roots: bool,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub force: bool,
    pub no_exec: bool,
    pub timeout: Duration,
    pub io_timeout: Duration,
}

pub const DEFAULT_SERVICE: &str = "_maemo_autoconf._tcp";

impl Settings {
    pub fn from_dictionary(d: &Dictionary) -> Result<Settings> {
        let paths = |k: &str| d.values(k).iter().map(PathBuf::from).collect::<Vec<_>>();
        let path = |k: &str| d.one(k).map(PathBuf::from);
        let root = path("root").unwrap_or_else(|| PathBuf::from("/"));
        if !root.is_absolute() {
            return Err(d.bad(
                "root",
                &root.display().to_string(),
                "is not an absolute path",
            ));
        }
        let state_dir = path("state-dir").unwrap_or_else(|| root.join("var/lib/preconf"));
        let client_cert = path("client-cert");
        let client_key = path("client-key");
        if client_cert.is_some() != client_key.is_some() {
            return Err(Error::usage(
                "--client-cert and --client-key go together; give both or neither.",
            ));
        }
        let dns = d
            .values("dns")
            .iter()
            .map(|v| parse_nameserver(v).ok_or_else(|| d.bad("dns", v, "is not IP or IP:PORT")))
            .collect::<Result<Vec<_>>>()?;
        let service = d.one("service").unwrap_or(DEFAULT_SERVICE).to_string();
        if service.is_empty() || service.starts_with('.') || service.ends_with('.') {
            return Err(d.bad(
                "service",
                &service,
                "is not a DNS label like _maemo_autoconf._tcp",
            ));
        }
        Ok(Settings {
            domain: d.one("domain").map(str::to_string),
            lease_files: paths("lease-file"),
            resolv_conf: path("resolv-conf"),
            assume_yes: d.switch("yes"),
            service,
            dns,
            server: d.one("server").map(|raw| server_url(d, raw)).transpose()?,
            user: d.one("user").map(str::to_string),
            device_id: device_id(d)?,
            cas: paths("ca"),
            system_roots: d.switch("system-roots"),
            client_cert,
            client_key,
            root,
            state_dir,
            force: d.switch("force"),
            no_exec: d.switch("no-exec"),
            timeout: seconds(d, "timeout", 600)?,
            io_timeout: seconds(d, "io-timeout", 15)?,
        })
    }
}

/// --device-id, else the first line of --device-id-file.
fn device_id(d: &Dictionary) -> Result<Option<String>> {
    if let Some(id) = d.one("device-id") {
        return Ok(Some(id.to_string()));
    }
    let Some(path) = d.one("device-id-file") else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| d.bad("device-id-file", path, &format!("cannot be read ({e})")))?;
    match text.lines().next().map(str::trim).filter(|l| !l.is_empty()) {
        Some(id) => Ok(Some(id.to_string())),
        None => Err(d.bad("device-id-file", path, "is empty")),
    }
}

fn server_url(d: &Dictionary, raw: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|e| d.bad("server", raw, &format!("is not a URL: {e}")))?;
    if url.scheme != "https" {
        return Err(d.bad(
            "server",
            raw,
            "must be an https:// URL; preconf never fetches over plain http",
        ));
    }
    Ok(url)
}

fn seconds(d: &Dictionary, key: &str, default: u64) -> Result<Duration> {
    match d.one(key) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => match v.parse::<f64>() {
            Ok(s) if s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
            _ => Err(d.bad(key, v, "is not a positive number of seconds")),
        },
    }
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT`; port 53 when none is given.
pub fn parse_nameserver(v: &str) -> Option<SocketAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    v.parse::<SocketAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(source: &str, rank: i32, pairs: &[(&str, &str)]) -> Layer {
        Layer {
            source: source.into(),
            rank,
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn higher_rank_wins_whole_key() {
        let d = Dictionary::merge(vec![
            layer("cli", 100, &[("dns", "127.0.0.1:5353")]),
            layer(
                "factory",
                0,
                &[
                    ("dns", "10.0.0.1"),
                    ("dns", "10.0.0.2"),
                    ("service", "_x._tcp"),
                ],
            ),
        ]);
        let s = Settings::from_dictionary(&d).unwrap();
        assert_eq!(s.dns, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert_eq!(s.service, "_x._tcp");
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/preconf"));
    }

    #[test]
    fn bad_value_names_its_source() {
        let d = Dictionary::merge(vec![layer("command line", 100, &[("dns", "nope")])]);
        let e = Settings::from_dictionary(&d).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(
            e.message.contains("'nope' from command line"),
            "{}",
            e.message
        );
    }

    #[test]
    fn nameserver_forms() {
        assert_eq!(parse_nameserver("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_nameserver("[::1]:5300"),
            Some("[::1]:5300".parse().unwrap())
        );
        assert_eq!(
            parse_nameserver("127.0.0.2"),
            Some("127.0.0.2:53".parse().unwrap())
        );
        assert_eq!(parse_nameserver("host"), None);
    }
}
