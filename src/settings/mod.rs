//! Where settings come from, and what they are.
//!
//! Every setting is a [`Key`] defined once in `keys.rs`. Providers each
//! give a [`Layer`] of key/value entries; the highest-ranked provider that
//! has a key decides its value, a repeatable key's whole list included
//! ([`Provider::rank`] holds the ranks). The run only ever sees the typed
//! [`Settings`] built from the merged [`Dictionary`], so a new provider
//! (the environment, a stored dictionary, a network push) never touches the
//! steps.

mod factory;
pub(crate) mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::error::{Error, Exit, Result, Step};
use crate::net::http::check_url;
use crate::net::tls::Trust;
pub(crate) use factory::{TARGET, ca_count as factory_ca_count, defaults_line as factory_defaults};
pub(crate) use text::Kind;

const GROUP_DOMAIN: &str = "Where the domain comes from";
const GROUP_DISCOVER: &str = "Finding the configuration server";
const GROUP_LOGIN: &str = "Logging in";
const GROUP_TLS: &str = "Trust (TLS)";
const GROUP_INSTALL: &str = "Installing and handing over";
const GROUP_LIMITS: &str = "Limits";

/// Expands the key table (`keys.rs`) into [`Key`] and its setters.
macro_rules! keys {
    ($( $id:ident $name:literal $kind:ident $(($meta:literal))? $group:ident $help:literal
        |$s:ident, $v:ident| $set:expr; )*) => {
        /// A setting, as code names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub(crate) enum Key { $($id),* }

        impl Key {
            /// Every key, in the order `--help` shows them.
            pub(crate) const ALL: &[Key] = &[$(Key::$id),*];

            pub(crate) fn name(self) -> &'static str {
                match self { $(Key::$id => $name),* }
            }

            pub(crate) fn kind(self) -> Kind {
                match self { $(Key::$id => Kind::$kind $(($meta))?),* }
            }

            pub(crate) fn group(self) -> &'static str {
                match self { $(Key::$id => $group),* }
            }

            pub(crate) fn help(self) -> &'static str {
                match self { $(Key::$id => $help),* }
            }

            pub(crate) fn from_name(name: &str) -> Option<Key> {
                match name { $($name => Some(Key::$id),)* _ => None }
            }

            /// Puts one value into `settings`; the error says what is wrong with it.
            fn set(self, settings: &mut Settings, value: &Value) -> Result<(), String> {
                match self {
                    $(Key::$id => {
                        let ($s, $v) = (&mut *settings, value);
                        $set;
                    })*
                }
                Ok(())
            }
        }
    };
}

include!("keys.rs");

/// A value as a provider gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    /// Raw bytes, for providers that carry files (certificates, agent
    /// configuration), such as a bundle's `@base64` properties; no key of
    /// the run takes bytes yet.
    Bytes(Vec<u8>),
}

impl Value {
    fn text(&self) -> Result<&str, String> {
        match self {
            Value::Text(t) => Ok(t),
            Value::Bytes(_) => Err("must be text, not bytes".into()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => write!(f, "'{t}'"),
            Value::Bytes(b) => write!(f, "({} bytes)", b.len()),
        }
    }
}

/// Who gave a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Provider {
    CommandLine,
    /// `ROOT/etc/preconf/*.conf`; `order` is its place in name order.
    File {
        path: PathBuf,
        order: usize,
    },
    Factory,
}

impl Provider {
    /// Every rank, in one place: higher wins, a whole key at a time.
    pub(crate) fn rank(&self) -> i32 {
        match self {
            Provider::CommandLine => 1000,
            // A later file wins over an earlier one.
            Provider::File { order, .. } => 500 + *order as i32,
            Provider::Factory => 0,
        }
    }

    /// A bad value typed on the command line is a usage error; one in a
    /// file or built in is a configuration error.
    fn exit(&self) -> Exit {
        match self {
            Provider::CommandLine => Exit::Usage,
            _ => Exit::Config,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::CommandLine => f.write_str("the command line"),
            Provider::File { path, .. } => write!(f, "{}", path.display()),
            Provider::Factory => f.write_str("the factory defaults"),
        }
    }
}

/// One value of a layer, with the line it came from where it has one.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: Key,
    pub(crate) value: Value,
    pub(crate) line: Option<usize>,
}

impl Entry {
    /// A text value, as the command line and `key=value` files give them.
    pub(crate) fn text(key: Key, value: String, line: Option<usize>) -> Entry {
        Entry {
            key,
            value: Value::Text(value),
            line,
        }
    }
}

/// The values of one provider, in the order it gave them.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) provider: Provider,
    pub(crate) entries: Vec<Entry>,
}

/// The merged view: for each key, the provider that decides it and its values.
#[derive(Default)]
pub(crate) struct Dictionary {
    winners: BTreeMap<Key, (Provider, Vec<Entry>)>,
}

impl Dictionary {
    pub(crate) fn merge(mut layers: Vec<Layer>) -> Dictionary {
        layers.sort_by_key(|l| l.provider.rank());
        let mut dict = Dictionary::default();
        for layer in layers {
            let mut mine: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
            for e in layer.entries {
                mine.entry(e.key).or_default().push(e);
            }
            for (key, entries) in mine {
                dict.winners.insert(key, (layer.provider.clone(), entries));
            }
        }
        dict
    }

    /// Puts the winning values of `key` into `s`; the error names the
    /// value, its provider and line.
    fn apply(&self, key: Key, s: &mut Settings) -> Result<()> {
        let Some((provider, entries)) = self.winners.get(&key) else {
            return Ok(());
        };
        for e in entries {
            key.set(s, &e.value).map_err(|why| {
                let line = e.line.map(|n| format!(" line {n}")).unwrap_or_default();
                Error::new(
                    Step::Settings,
                    provider.exit(),
                    format!("{} {} from {provider}{line} {why}.", key.name(), e.value),
                )
            })?;
        }
        Ok(())
    }

    fn provider(&self, key: Key) -> Option<&Provider> {
        self.winners.get(&key).map(|(p, _)| p)
    }
}

/// Everything a run needs to know, typed and checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) domain: Option<String>,
    pub(crate) lease_files: Vec<PathBuf>,
    pub(crate) resolv_conf: Option<PathBuf>,
    pub(crate) assume_yes: bool,
    pub(crate) service: String,
    pub(crate) dns: Vec<SocketAddr>,
    pub(crate) server: Option<Url>,
    pub(crate) user: Option<String>,
    pub(crate) device_id: Option<String>,
    /// Read by the step that needs the identity, never while loading.
    pub(crate) device_id_file: Option<PathBuf>,
    pub(crate) cas: Vec<PathBuf>,
    pub(crate) system_roots: bool,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    pub(crate) root: PathBuf,
    state_dir: Option<PathBuf>,
    pub(crate) force: bool,
    pub(crate) no_exec: bool,
    pub(crate) timeout: Duration,
    pub(crate) io_timeout: Duration,
}

pub(crate) const DEFAULT_SERVICE: &str = "_maemo_autoconf._tcp";

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            domain: None,
            lease_files: Vec::new(),
            resolv_conf: None,
            assume_yes: false,
            service: DEFAULT_SERVICE.to_string(),
            dns: Vec::new(),
            server: None,
            user: None,
            device_id: None,
            device_id_file: None,
            cas: Vec::new(),
            system_roots: false,
            client_cert: None,
            client_key: None,
            root: PathBuf::from("/"),
            state_dir: None,
            force: false,
            no_exec: false,
            timeout: Duration::from_secs(600),
            io_timeout: Duration::from_secs(15),
        }
    }
}

impl Settings {
    pub(crate) fn from_dictionary(d: &Dictionary) -> Result<Settings> {
        let mut s = Settings::default();
        for &key in d.winners.keys() {
            d.apply(key, &mut s)?;
        }
        if s.client_cert.is_some() != s.client_key.is_some() {
            let given = d
                .provider(Key::ClientCertPem)
                .or(d.provider(Key::ClientKeyPem));
            return Err(Error::new(
                Step::Settings,
                given.map_or(Exit::Usage, Provider::exit),
                "--client-cert and --client-key go together; give both or neither.",
            ));
        }
        Ok(s)
    }

    fn from_layers(layers: Vec<Layer>) -> Result<Settings> {
        Settings::from_dictionary(&Dictionary::merge(layers))
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.root.join("var/lib/preconf"))
    }

    /// Whom the run trusts: the CAs built in, the named ones, perhaps the
    /// system's, and the device's own certificate.
    pub(crate) fn trust(&self) -> Trust {
        Trust {
            embedded: factory::CAS,
            cas: self.cas.clone(),
            system_roots: self.system_roots,
            client: self.client_cert.clone().zip(self.client_key.clone()),
        }
    }
}

/// Where settings files live, below the root.
pub(crate) const FILES_DIR: &str = "etc/preconf";

/// Merges the factory defaults, the settings files below the root and the
/// command line into the settings of this run. Reads nothing but the files.
pub(crate) fn load(command_line: Layer) -> Result<Settings> {
    let factory = factory::layer();
    // The root decides where the files are, so it is looked up without
    // them, and alone: everything else is checked once, below.
    let early = Dictionary::merge(vec![factory.clone(), command_line.clone()]);
    let mut root = Settings::default();
    early.apply(Key::Root, &mut root)?;
    let root = root.root;
    let mut layers = file_layers(&root.join(FILES_DIR))?;
    layers.extend([factory, command_line]);
    Settings::from_layers(layers)
}

/// One layer per `*.conf` file in `dir`; none when the directory is absent.
fn file_layers(dir: &Path) -> Result<Vec<Layer>> {
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
        .map(|(order, path)| {
            let bad = |why: String| {
                Error::new(
                    Step::Settings,
                    Exit::Config,
                    format!("{}: {why}; fix the file.", path.display()),
                )
            };
            let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
            let entries = text::parse_properties(&text)
                .map_err(bad)?
                .into_iter()
                .map(|l| Entry::text(l.key, l.value, Some(l.number)))
                .collect();
            Ok(Layer {
                provider: Provider::File { path, order },
                entries,
            })
        })
        .collect()
}

// The setters' parsers, one per type of value.

fn plain(v: &Value) -> Result<&str, String> {
    v.text()
}

fn path(v: &Value) -> Result<PathBuf, String> {
    v.text().map(PathBuf::from)
}

fn absolute_path(v: &Value) -> Result<PathBuf, String> {
    let p = path(v)?;
    if !p.is_absolute() {
        return Err("is not an absolute path".into());
    }
    Ok(p)
}

fn switch(v: &Value) -> Result<bool, String> {
    text::switch(v.text()?)
}

fn domain_name(v: &Value) -> Result<String, String> {
    crate::net::dns::domain_name(v.text()?)
        .ok_or_else(|| "is not a DNS domain such as example.com".into())
}

fn service_label(v: &Value) -> Result<String, String> {
    let s = v.text()?;
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    };
    if s.len() > 200 || !s.split('.').all(label) {
        return Err("is not a DNS label like _maemo_autoconf._tcp".into());
    }
    Ok(s.to_string())
}

fn nameserver(v: &Value) -> Result<SocketAddr, String> {
    parse_nameserver(v.text()?).ok_or_else(|| "is not IP or IP:PORT".into())
}

fn https_url(v: &Value) -> Result<Url, String> {
    let url = Url::parse(v.text()?).map_err(|e| format!("is not a URL: {e}"))?;
    check_url(&url)?;
    Ok(url)
}

fn seconds(v: &Value) -> Result<Duration, String> {
    match v.text()?.parse::<f64>() {
        Ok(s) if s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err("is not a positive number of seconds".into()),
    }
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT`; port 53 when none is given.
fn parse_nameserver(v: &str) -> Option<SocketAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    v.parse::<SocketAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(provider: Provider, pairs: &[(Key, &str)]) -> Layer {
        Layer {
            provider,
            entries: pairs
                .iter()
                .map(|(key, v)| Entry::text(*key, v.to_string(), None))
                .collect(),
        }
    }

    #[test]
    fn higher_rank_wins_whole_key() {
        let s = Settings::from_layers(vec![
            layer(Provider::CommandLine, &[(Key::Dns, "127.0.0.1:5353")]),
            layer(
                Provider::Factory,
                &[
                    (Key::Dns, "10.0.0.1"),
                    (Key::Dns, "10.0.0.2"),
                    (Key::Service, "_x._tcp"),
                ],
            ),
        ])
        .unwrap();
        assert_eq!(s.dns, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert_eq!(s.service, "_x._tcp");
        assert_eq!(s.state_dir(), PathBuf::from("/var/lib/preconf"));
    }

    #[test]
    fn bad_value_names_its_source_and_exits_by_it() {
        let e = Settings::from_layers(vec![layer(Provider::CommandLine, &[(Key::Dns, "nope")])])
            .unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(
            e.message.contains("'nope' from the command line"),
            "{}",
            e.message
        );
        let file = Provider::File {
            path: "/etc/preconf/a.conf".into(),
            order: 0,
        };
        let mut l = layer(file, &[(Key::Yes, "yes")]);
        l.entries[0].line = Some(3);
        let e = Settings::from_layers(vec![l]).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert!(
            e.message
                .contains("yes 'yes' from /etc/preconf/a.conf line 3 is a switch"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_key_has_a_name_help_and_a_setter() {
        for &key in Key::ALL {
            assert_eq!(Key::from_name(key.name()), Some(key));
            assert!(!key.help().is_empty() && !key.group().is_empty());
            let sample = match key.kind() {
                Kind::Switch => "true",
                _ => match key {
                    Key::Dns => "127.0.0.1",
                    Key::Server => "https://cfg.example.com/",
                    Key::Timeout | Key::IoTimeout => "5",
                    Key::Domain => "example.com",
                    Key::Service => "_corp._tcp",
                    _ => "/abs/path",
                },
            };
            let mut s = Settings::default();
            key.set(&mut s, &Value::Text(sample.into()))
                .unwrap_or_else(|e| panic!("{}: {e}", key.name()));
        }
    }

    #[test]
    fn switches_are_true_or_false_everywhere() {
        let mut s = Settings::default();
        for bad in ["yes", "1", "on", ""] {
            assert!(Key::Force.set(&mut s, &Value::Text(bad.into())).is_err());
        }
        Key::Force.set(&mut s, &Value::Text("true".into())).unwrap();
        assert!(s.force);
    }

    #[test]
    fn properties_are_checked() {
        let ok = text::parse_properties(
            "# factory\n\nservice = _corp._tcp\nca=/a.pem\nca=/b.pem\nyes=true\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 4);
        assert_eq!(
            (ok[0].key, ok[0].value.as_str()),
            (Key::Service, "_corp._tcp")
        );
        let err = |t: &str| text::parse_properties(t).err().unwrap();
        assert!(err("servce=x").contains("line 1: unknown key 'servce'"));
        assert!(err("\nyes=maybe").contains("line 2: yes is a switch"));
        assert!(err("just words").contains("not key=value"));
        assert!(err("dns=").contains("no value"));
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

    #[test]
    fn service_labels_are_dns_labels() {
        let set = |v: &str| Key::Service.set(&mut Settings::default(), &Value::Text(v.into()));
        assert!(set("_maemo_autoconf._tcp").is_ok());
        for bad in ["", "._tcp", "_x..tcp", "_x._tcp.", "_x _tcp", "_x/._tcp"] {
            assert!(set(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_urls_are_https_without_login() {
        let set = |v: &str| Key::Server.set(&mut Settings::default(), &Value::Text(v.into()));
        assert!(set("https://cfg.example.com/b").is_ok());
        assert!(
            set("http://cfg.example.com/b")
                .unwrap_err()
                .contains("https://")
        );
        assert!(
            set("https://u:p@cfg.example.com/")
                .unwrap_err()
                .contains("login")
        );
    }
}
