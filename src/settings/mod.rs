//! Where settings come from, and what they are: the provisioning
//! dictionary.
//!
//! Every key preconf uses is a [`Key`] defined once in `keys.rs`; other
//! dotted keys (`prm.name`, a company's own) are carried as data. Providers
//! each give a [`Layer`] of entries (`providers.rs` reads them); the
//! highest-ranked provider that has a key decides its value, a repeatable
//! key's whole list included ([`Provider::rank`] holds the ranks, and
//! [`Provider::may_set`] who may set what). The run only ever sees the typed
//! [`Settings`] built from the merged [`Dictionary`], so a new provider
//! never touches the steps.

mod factory;
mod providers;
pub(crate) mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::bundle::Launch;
use crate::error::{Error, Exit, Result, Step};
use crate::listen::auth::PasswordHash;
use crate::net::http::{check_url, parse_url};
use crate::net::tls::Trust;
use crate::state::files::InRoot;
pub(crate) use factory::{TARGET, ca_count as factory_ca_count, defaults_line as factory_defaults};
#[cfg(fuzzing)]
pub(crate) use providers::wildcard;
pub(crate) use providers::{Loaded, PUSHED, Store, load, load_to_mend};
pub(crate) use text::{Kind, Name};

const GROUP_DOMAIN: &str = "Where the domain comes from";
const GROUP_DISCOVER: &str = "Finding the configuration server";
const GROUP_LOGIN: &str = "Logging in";
const GROUP_TLS: &str = "Trust (TLS)";
const GROUP_INSTALL: &str = "Installing and handing over";
const GROUP_LIMITS: &str = "Limits";
const GROUP_DICT: &str = "The provisioning dictionary (set with --set KEY=VALUE)";
const GROUP_PROVIDERS: &str =
    "Which providers are read (--set, settings files or factory defaults only)";
const GROUP_LISTEN: &str =
    "preconf listen: pushes, discovery and the progress log (--set KEY=VALUE)";

/// Expands the key table (`keys.rs`) into [`Key`] and its setters.
macro_rules! keys {
    ($( $id:ident $name:literal $([$flag:literal])? $kind:ident $(($meta:literal))?
        $scope:ident $group:ident $help:literal |$s:ident, $v:ident| $set:expr; )*) => {
        /// A setting, as code names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub(crate) enum Key { $($id),* }

        impl Key {
            /// Every key, in the order `--help` shows them.
            pub(crate) const ALL: &[Key] = &[$(Key::$id),*];

            /// Its name in the dictionary, settings files and messages.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Key::$id => $name),* }
            }

            /// Its long option: `--flag`, or only `--set name=…` if None.
            pub(crate) fn flag(self) -> Option<&'static str> {
                match self { $(Key::$id => flag!($name $(, $flag)?)),* }
            }

            pub(crate) fn kind(self) -> Kind {
                match self { $(Key::$id => Kind::$kind $(($meta))?),* }
            }

            pub(crate) fn scope(self) -> Scope {
                match self { $(Key::$id => Scope::$scope),* }
            }

            pub(crate) fn group(self) -> &'static str {
                match self { $(Key::$id => $group),* }
            }

            pub(crate) fn help(self) -> &'static str {
                match self { $(Key::$id => $help),* }
            }

            /// By name or by flag (`device-id` is `provisioning.spid`).
            pub(crate) fn from_name(name: &str) -> Option<Key> {
                match name {
                    $($name $(| $flag)? => Some(Key::$id),)*
                    _ => None,
                }
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

/// A key's flag: the one named, else its name when that has no dot (a
/// dotted key is set with `--set`).
macro_rules! flag {
    ($name:literal, $flag:literal) => {
        Some($flag)
    };
    ($name:literal) => {
        if $name.contains('.') {
            None
        } else {
            Some($name)
        }
    };
}

include!("keys.rs");

/// Which providers may set a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `root`: the settings files are found below it, so only the command
    /// line and the factory defaults.
    Root,
    /// Keys that decide where the other providers are read from: the
    /// command line, settings files, the factory defaults.
    Boot,
    /// Any provider on the device, but not a server.
    Device,
    /// Any provider, a server's bundle `properties` included.
    Server,
    /// Any provider but a push: whom the device trusts, and what it runs,
    /// come from the device or a server verified by TLS, never from a
    /// login to `/rminit`.
    Verified,
    /// Kept by the storage; no provider sets it.
    Kept,
}

impl Scope {
    /// Why a provider may not set a key of this scope.
    fn refusal(self) -> &'static str {
        match self {
            Scope::Root => {
                "can only be given on the command line or built into the factory defaults, since the settings files are found below it"
            }
            Scope::Boot => {
                "decides where the other providers are read from, so only the command line, ROOT/etc/preconf/*.conf or the factory defaults may set it"
            }
            Scope::Device => {
                "is the device's own setting, which neither a server nor removable media may change"
            }
            Scope::Server => "may not be set here",
            Scope::Verified => {
                "decides whom the device trusts or what it runs, which a push may not change"
            }
            Scope::Kept => "is kept by preconf and cannot be set",
        }
    }
}

/// A value as a provider gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    /// Raw bytes: `[BINARY]` lines of props.txt, `props set KEY@FILE`,
    /// a bundle's `…@base64` properties.
    Bytes(Vec<u8>),
}

impl Value {
    fn text(&self) -> Result<&str, String> {
        match self {
            Value::Text(t) => Ok(t),
            Value::Bytes(_) => Err("must be text, not bytes".into()),
        }
    }

    /// Either kind, as bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Value::Text(t) => t.as_bytes(),
            Value::Bytes(b) => b,
        }
    }

    /// How `props` and messages show it: secrets masked, bytes by size.
    pub(crate) fn shown(&self, name: &str) -> String {
        match self {
            _ if is_secret(name) => "********".to_string(),
            // Values come from media, the environment and servers: no
            // terminal escape goes through.
            Value::Text(t) => t
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
            Value::Bytes(b) => format!("({} bytes)", b.len()),
        }
    }
}

/// Whether a key's value is a secret, masked wherever it is shown: the
/// agent's configuration (it may hold credentials), `*.secret` and any
/// password.
pub(crate) fn is_secret(name: &str) -> bool {
    name == Key::AgentConfig.name()
        || name.ends_with(".secret")
        || ["password", "passwd", "token", "credential", "psk"]
            .iter()
            .any(|w| name.contains(w))
}

/// Who gave a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Provider {
    /// Flags and `--set`.
    CommandLine,
    /// What a backend pushed to `preconf listen` (`POST /rminit`), kept in
    /// the state directory until a later push changes it.
    Push {
        path: PathBuf,
    },
    /// `PROVISIONING_SPID`-style variables.
    Environment,
    /// The storage in the state directory: `props set`, a bundle's
    /// `properties`.
    Stored {
        path: PathBuf,
    },
    /// `props.txt` on removable media; `order` is its place among them.
    Media {
        path: PathBuf,
        order: usize,
    },
    /// `ROOT/etc/preconf/props.txt`; `loaded` when it is the copy the
    /// storage kept (prm.file.load.once).
    File {
        path: PathBuf,
        loaded: Option<String>,
    },
    /// `ROOT/etc/preconf/*.conf`; `order` is its place in name order.
    Settings {
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
            Provider::Push { .. } => 950,
            Provider::Environment => 900,
            Provider::Stored { .. } => 800,
            // A later medium wins over an earlier one, as files do.
            Provider::Media { order, .. } => 700 + (*order).min(99) as i32,
            Provider::File { .. } => 600,
            Provider::Settings { order, .. } => 500 + (*order).min(99) as i32,
            Provider::Factory => 0,
        }
    }

    /// Its name in `props`: one word per kind of provider.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Provider::CommandLine => "command-line",
            Provider::Push { .. } => "push",
            Provider::Environment => "environment",
            Provider::Stored { .. } => "stored",
            Provider::Media { .. } => "media",
            Provider::File { .. } => "file",
            Provider::Settings { .. } => "settings",
            Provider::Factory => "factory",
        }
    }

    /// The file it read, where it read one.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Provider::Stored { path }
            | Provider::Push { path }
            | Provider::Media { path, .. }
            | Provider::File { path, .. }
            | Provider::Settings { path, .. } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn may_set(&self, scope: Scope) -> bool {
        match scope {
            Scope::Root => matches!(self, Provider::CommandLine | Provider::Factory),
            Scope::Boot => matches!(
                self,
                Provider::CommandLine | Provider::Settings { .. } | Provider::Factory
            ),
            // A medium anyone may plug in, and a backend's push, carry
            // what a server may hand over, never the device's own settings.
            Scope::Device => !matches!(self, Provider::Media { .. } | Provider::Push { .. }),
            Scope::Server => true,
            Scope::Verified => !matches!(self, Provider::Push { .. }),
            // The storage counts its own changes; `props set` refuses it.
            Scope::Kept => matches!(self, Provider::Stored { .. }),
        }
    }

    /// A bad value typed on the command line is a usage error; one
    /// anywhere else is a configuration error.
    fn exit(&self) -> Exit {
        match self {
            Provider::CommandLine => Exit::Usage,
            _ => Exit::Config,
        }
    }

    /// The error for its entry `e`: the key, value, this provider and line.
    fn refused(&self, e: &Entry, why: &str) -> Error {
        let p = self;
        let at = e.at.as_ref().map(|a| format!(" {a}")).unwrap_or_default();
        let name = e.name.as_str();
        let value = match &e.value {
            Value::Text(_) if !is_secret(name) => format!(" '{}'", e.value.shown(name)),
            _ => String::new(),
        };
        Error::new(
            Step::Settings,
            p.exit(),
            format!("{name}{value} from {p}{at} {why}."),
        )
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::CommandLine => f.write_str("the command line"),
            Provider::Environment => f.write_str("the environment"),
            Provider::Factory => f.write_str("the factory defaults"),
            Provider::File {
                path,
                loaded: Some(time),
            } => write!(f, "{} (as loaded on {time})", path.display()),
            p => write!(f, "{}", p.path().unwrap_or(Path::new("")).display()),
        }
    }
}

/// One value of a layer, with where in its provider it came from: a line,
/// or an environment variable.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Name,
    pub(crate) value: Value,
    pub(crate) at: Option<String>,
}

impl Entry {
    pub(crate) fn new(name: Name, value: Value, at: Option<String>) -> Entry {
        Entry { name, value, at }
    }

    /// A text value of a known key, as flags give them.
    pub(crate) fn text(key: Key, value: String) -> Entry {
        Entry::new(Name::Known(key), Value::Text(value), None)
    }
}

/// The values of one provider, in the order it gave them.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) provider: Provider,
    pub(crate) entries: Vec<Entry>,
}

impl Layer {
    /// Refuses a key this provider may not set, naming where it is.
    fn admit(&self) -> Result<()> {
        for e in &self.entries {
            if let Name::Known(key) = e.name {
                if !self.provider.may_set(key.scope()) {
                    return Err(self.provider.refused(e, key.scope().refusal()));
                }
            }
        }
        Ok(())
    }
}

/// The merged view: for each key, the provider that decides it and its values.
#[derive(Default, Clone)]
pub(crate) struct Dictionary {
    winners: BTreeMap<Name, (Provider, Vec<Entry>)>,
}

impl Dictionary {
    pub(crate) fn merge(mut layers: Vec<Layer>) -> Dictionary {
        layers.sort_by_key(|l| l.provider.rank());
        let mut dict = Dictionary::default();
        for layer in layers {
            let mut mine: BTreeMap<Name, Vec<Entry>> = BTreeMap::new();
            for e in layer.entries {
                mine.entry(e.name.clone()).or_default().push(e);
            }
            for (name, entries) in mine {
                dict.winners.insert(name, (layer.provider.clone(), entries));
            }
        }
        dict
    }

    /// Puts the winning values of `key` into `s`; the error names the
    /// value, its provider and line.
    fn apply(&self, key: Key, s: &mut Settings) -> Result<()> {
        let Some((provider, entries)) = self.winners.get(&Name::Known(key)) else {
            return Ok(());
        };
        for e in entries {
            key.set(s, &e.value)
                .map_err(|why| provider.refused(e, &why))?;
        }
        Ok(())
    }

    pub(crate) fn provider(&self, key: Key) -> Option<&Provider> {
        self.winners.get(&Name::Known(key)).map(|(p, _)| p)
    }

    /// Every key with its provider and values, in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Name, &Provider, &[Entry])> {
        self.winners
            .iter()
            .map(|(name, (p, entries))| (name, p, entries.as_slice()))
    }
}

/// Which providers a run reads, from the `prm.*` keys of [`Scope::Boot`].
#[derive(Debug, Clone)]
pub(crate) struct Providers {
    pub(crate) file: bool,
    pub(crate) file_once: bool,
    /// Below the root; `*` matches one name.
    pub(crate) media: Vec<String>,
    pub(crate) env: bool,
    pub(crate) push: Option<String>,
}

/// `preconf listen`: the push endpoint and multicast discovery.
#[derive(Debug, Clone)]
pub(crate) struct Listen {
    pub(crate) allowed: bool,
    pub(crate) secure: bool,
    pub(crate) address: IpAddr,
    pub(crate) port: u16,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) require_auth: bool,
    pub(crate) user: String,
    pub(crate) password: Option<PasswordHash>,
    pub(crate) after_run: bool,
    pub(crate) group: Ipv4Addr,
    /// 0: no discovery.
    pub(crate) group_port: u16,
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
    /// `provisioning.reference`: where to provision from instead of DNS.
    pub(crate) reference: Option<Url>,
    pub(crate) agent_config: Option<Vec<u8>>,
    /// `provisioning.start.bundle`: the configurator's command.
    pub(crate) start_command: Option<Launch>,
    /// `provisioning.rootx509`: more CAs, PEM or DER.
    pub(crate) root_x509: Option<Vec<u8>>,
    pub(crate) reprovision: bool,
    pub(crate) insecure_http: bool,
    pub(crate) max_hops: usize,
    pub(crate) providers: Providers,
    pub(crate) listen: Listen,
    /// `prm.prv.log`: where progress events go.
    pub(crate) prv_log: Option<Url>,
    pub(crate) remote_debug: bool,
    /// Not a key: `preconf listen` that goes on listening starts the
    /// configurator beside itself rather than in its place.
    pub(crate) spawn_handoff: bool,
}

const DEFAULT_SERVICE: &str = "_maemo_autoconf._tcp";

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
            reference: None,
            agent_config: None,
            start_command: None,
            root_x509: None,
            reprovision: false,
            insecure_http: false,
            max_hops: 4,
            providers: Providers {
                file: true,
                file_once: true,
                media: Vec::new(),
                env: true,
                push: None,
            },
            listen: Listen {
                allowed: true,
                secure: true,
                address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 8080,
                cert: None,
                key: None,
                require_auth: true,
                user: "admin".to_string(),
                password: None,
                after_run: false,
                group: Ipv4Addr::new(225, 0, 0, 0),
                group_port: 7777,
            },
            prv_log: None,
            remote_debug: false,
            spawn_handoff: false,
        }
    }
}

impl Settings {
    pub(crate) fn from_dictionary(d: &Dictionary) -> Result<Settings> {
        let mut s = Settings::default();
        for name in d.winners.keys() {
            if let Name::Known(key) = name {
                d.apply(*key, &mut s)?;
            }
        }
        let refused = |key: Key, why: &str| {
            let exit = d.provider(key).map_or(Exit::Usage, Provider::exit);
            Error::new(Step::Settings, exit, why.to_string())
        };
        if s.client_cert.is_some() != s.client_key.is_some() {
            return Err(refused(
                Key::ClientCertPem,
                "--client-cert and --client-key go together; give both or neither.",
            ));
        }
        if let Some(r) = &s.reference {
            if r.scheme() == "http" && !s.insecure_http {
                let from = d.provider(Key::Reference).map(ToString::to_string);
                return Err(refused(
                    Key::Reference,
                    &format!(
                        "provisioning.reference {r} from {} is plain http, which anyone on the way can read and change; use https, or set prm.insecure.http=true if you must.",
                        from.unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(s)
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.root.join("var/lib/preconf"))
    }

    /// The certificate and key the HTTPS push endpoint presents: its own,
    /// else the device's client certificate.
    pub(crate) fn listen_identity(&self) -> Option<(PathBuf, PathBuf)> {
        let cert = self.listen.cert.clone().or(self.client_cert.clone())?;
        let key = self.listen.key.clone().or(self.client_key.clone())?;
        Some((cert, key))
    }

    /// Whom the run trusts: the CAs built in, the named ones, those of
    /// the dictionary, perhaps the system's, and the device's own
    /// certificate.
    pub(crate) fn trust(&self) -> Trust {
        Trust {
            embedded: factory::CAS,
            cas: self.cas.clone(),
            extra: self.root_x509.clone(),
            system_roots: self.system_roots,
            client: self.client_cert.clone().zip(self.client_key.clone()),
        }
    }
}

/// Whether a server's bundle may hand the device `name` in its
/// `properties`: the OSGi keys and keys preconf does not use, never the
/// device's own settings (its trust anchors on disk, where it installs,
/// whether it may use plain http).
pub(crate) fn server_may_set(name: &str) -> Result<(), String> {
    match Name::parse(name)? {
        Name::Known(key) if !matches!(key.scope(), Scope::Server | Scope::Verified) => {
            Err(key.scope().refusal().to_string())
        }
        _ => Ok(()),
    }
}

/// A provisioning.reference as the dictionary would take it.
pub(crate) fn reference_value(v: &Value) -> Result<Url, String> {
    reference(v)
}

/// Checks a value a server hands over as its key would take it, before
/// it is stored: a stored value that a later start refuses would leave
/// the device unable to start.
pub(crate) fn check_value(name: &str, value: &Value, insecure_http: bool) -> Result<(), String> {
    let Name::Known(key) = Name::parse(name)? else {
        return Ok(());
    };
    let mut s = Settings::default();
    key.set(&mut s, value)
        .map_err(|why| format!("is a value that {why}"))?;
    if !insecure_http && s.reference.is_some_and(|r| r.scheme() == "http") {
        return Err("is a plain-http reference, and prm.insecure.http is not set".into());
    }
    Ok(())
}

/// Where settings files live, below the root.
pub(crate) const FILES_DIR: &str = "etc/preconf";

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
    let url = parse_url(None, v.text()?).map_err(|e| format!("is not a URL: {e}"))?;
    check_url(&url)?;
    Ok(url)
}

fn seconds(v: &Value) -> Result<Duration, String> {
    match v.text()?.parse::<f64>() {
        Ok(s) if s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err("is not a positive number of seconds".into()),
    }
}

/// https, file or http (which `from_dictionary` allows only with
/// prm.insecure.http); never a login in the URL.
fn reference(v: &Value) -> Result<Url, String> {
    let url = parse_url(None, v.text()?).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => check_url(&url)?,
        "file" if url.to_file_path().is_ok() => {}
        "file" => return Err("is not a file:// URL of a local path".into()),
        "http" if url.username().is_empty() && url.password().is_none() => {}
        "http" => return Err("must not carry a login or password".into()),
        other => {
            return Err(format!(
                "has the scheme {other}, and preconf provisions only from https://, file:// or (with prm.insecure.http) http://"
            ));
        }
    }
    Ok(url)
}

/// A command line: an absolute program below the root, then its
/// arguments, split at spaces (no quoting: a configurator's path has none).
fn command(v: &Value) -> Result<Launch, String> {
    let mut words = v.text()?.split_ascii_whitespace();
    let program = words
        .next()
        .and_then(InRoot::parse)
        .ok_or("must start with an absolute program path without '..'")?;
    Ok(Launch {
        program,
        args: words.map(str::to_string).collect(),
    })
}

fn ip(v: &Value) -> Result<IpAddr, String> {
    v.text()?
        .parse()
        .map_err(|_| "is not an IP address".to_string())
}

fn port(v: &Value) -> Result<u16, String> {
    match port_or_off(v)? {
        0 => Err("is not a port from 1 to 65535".into()),
        p => Ok(p),
    }
}

fn port_or_off(v: &Value) -> Result<u16, String> {
    v.text()?
        .parse()
        .map_err(|_| "is not a port from 0 to 65535".to_string())
}

fn multicast(v: &Value) -> Result<Ipv4Addr, String> {
    match v.text()?.parse::<Ipv4Addr>() {
        Ok(ip) if ip.is_multicast() => Ok(ip),
        _ => Err("is not an IPv4 multicast address (224.0.0.0 to 239.255.255.255)".into()),
    }
}

fn password_hash(v: &Value) -> Result<PasswordHash, String> {
    PasswordHash::parse(v.text()?)
}

fn count(v: &Value) -> Result<u64, String> {
    v.text()?
        .parse()
        .map_err(|_| "is not a whole number".to_string())
}

fn hops(v: &Value) -> Result<usize, String> {
    match count(v)? {
        n @ 1..=32 => Ok(n as usize),
        _ => Err("must be from 1 to 32".into()),
    }
}

/// An absolute directory pattern, taken below the root; `*` may stand for
/// a whole name or part of one, never for `/` or `..`.
fn media_dir(v: &Value) -> Result<String, String> {
    let d = v.text()?;
    if InRoot::parse(d).is_none() {
        return Err("is not an absolute directory without '..'".into());
    }
    Ok(d.to_string())
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
                .map(|(key, v)| Entry::text(*key, v.to_string()))
                .collect(),
        }
    }

    fn from_layers(layers: Vec<Layer>) -> Result<Settings> {
        for l in &layers {
            l.admit()?;
        }
        Settings::from_dictionary(&Dictionary::merge(layers))
    }

    #[test]
    fn higher_rank_wins_whole_key() {
        let s = from_layers(vec![
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
        let e = from_layers(vec![layer(Provider::CommandLine, &[(Key::Dns, "nope")])]).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(
            e.message.contains("'nope' from the command line"),
            "{}",
            e.message
        );
        let file = Provider::Settings {
            path: "/etc/preconf/a.conf".into(),
            order: 0,
        };
        let mut l = layer(file, &[(Key::Yes, "yes")]);
        l.entries[0].at = Some("line 3".into());
        let e = from_layers(vec![l]).unwrap_err();
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
                    Key::Reference => "https://cfg.example.com/prvsetup",
                    Key::UpdateCount | Key::MaxHops => "3",
                    Key::StartBundle => "/usr/bin/corp --enroll",
                    Key::DeviceId | Key::AgentConfig | Key::RshSecret | Key::RootX509 => "x",
                    Key::EnvPush => "mbs",
                    Key::HttpAddress => "127.0.0.1",
                    Key::HttpPort | Key::MulticastPort => "8080",
                    Key::MulticastHost => "225.0.0.0",
                    Key::PushUser => "ops",
                    Key::PrvLog => "https://log.example.com/prv",
                    Key::PushPasswordHash => {
                        "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
                    }
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
            (&ok[0].name, ok[0].value.as_str()),
            (&Name::Known(Key::Service), "_corp._tcp")
        );
        let err = |t: &str| text::parse_properties(t).err().unwrap();
        assert!(err("servce=x").contains("line 1: unknown key 'servce'"));
        assert!(err("\nyes=maybe").contains("line 2: yes is a switch"));
        assert!(err("just words").contains("not key=value"));
        assert!(err("dns=").contains("no value"));
    }

    #[test]
    fn who_may_set_what() {
        let spid = |p: Provider| layer(p, &[(Key::DeviceId, "D")]).admit();
        let root = |p: Provider| layer(p, &[(Key::Root, "/r")]).admit();
        let once = |p: Provider| layer(p, &[(Key::FileLoadOnce, "false")]).admit();
        let stored = || Provider::Stored { path: "/s".into() };
        let conf = || Provider::Settings {
            path: "/etc/preconf/a.conf".into(),
            order: 0,
        };
        for p in [
            Provider::CommandLine,
            Provider::Environment,
            stored(),
            conf(),
            Provider::Factory,
        ] {
            assert!(spid(p).is_ok());
        }
        assert!(root(Provider::CommandLine).is_ok() && root(conf()).is_err());
        assert!(once(conf()).is_ok());
        let e = once(Provider::Environment).unwrap_err();
        assert!(
            e.message
                .contains("decides where the other providers are read from"),
            "{}",
            e.message
        );
        assert!(once(stored()).is_err());
        let count = layer(Provider::CommandLine, &[(Key::UpdateCount, "5")]).admit();
        assert!(count.unwrap_err().message.contains("kept by preconf"));
        assert!(server_may_set("provisioning.spid").is_ok());
        assert!(server_may_set("prm.name").is_ok());
        assert!(server_may_set("ca").is_err());
        assert!(server_may_set("prm.insecure.http").is_err());
        assert!(server_may_set("provisioning.typo").is_err());
    }

    #[test]
    fn names_and_secrets() {
        assert_eq!(Name::parse("device-id"), Ok(Name::Known(Key::DeviceId)));
        assert_eq!(Key::DeviceId.name(), "provisioning.spid");
        assert_eq!(Key::DeviceId.flag(), Some("device-id"));
        assert_eq!(Key::Reference.flag(), None);
        assert_eq!(Key::Dns.flag(), Some("dns"));
        assert_eq!(
            Name::parse("corp.site"),
            Ok(Name::Other("corp.site".into()))
        );
        assert!(
            Name::parse("servce")
                .unwrap_err()
                .contains("unknown key 'servce'")
        );
        assert!(
            Name::parse("provisioning.refrence")
                .unwrap_err()
                .contains("provisioning.reference")
        );
        for bad in ["", "A.b", "a..b", ".a", "a.", "1a.b", "a b.c"] {
            assert!(Name::parse(bad).is_err(), "{bad:?}");
        }
        assert!(is_secret("provisioning.rsh.secret") && is_secret("provisioning.agent.config"));
        assert!(is_secret("corp.wifi.password") && !is_secret("provisioning.spid"));
        assert_eq!(Value::Text("x".into()).shown("corp.secret"), "********");
        assert_eq!(
            Value::Bytes(vec![1, 2]).shown("provisioning.rootx509"),
            "(2 bytes)"
        );
    }

    #[test]
    fn references_and_commands() {
        let set = |k: Key, v: &str| {
            let mut s = Settings::default();
            k.set(&mut s, &Value::Text(v.into())).map(|()| s)
        };
        assert!(set(Key::Reference, "file:///media/usb/bundle.json").is_ok());
        assert!(
            set(Key::Reference, "rsh://backend:8443/x")
                .unwrap_err()
                .contains("rsh")
        );
        assert!(set(Key::Reference, "https://u:p@cfg.example.com/").is_err());
        let http = layer(
            Provider::CommandLine,
            &[(Key::Reference, "http://10.0.0.1/prvsetup")],
        );
        let e = from_layers(vec![http.clone()]).unwrap_err();
        assert!(e.message.contains("prm.insecure.http"), "{}", e.message);
        let mut allowed = http;
        allowed
            .entries
            .push(Entry::text(Key::InsecureHttp, "true".into()));
        assert!(from_layers(vec![allowed]).is_ok());
        let s = set(Key::StartBundle, " /opt/corp/agent  --enroll now").unwrap();
        assert_eq!(
            s.start_command.unwrap().words(),
            ["/opt/corp/agent", "--enroll", "now"]
        );
        assert!(set(Key::StartBundle, "agent --enroll").is_err());
        assert!(set(Key::MaxHops, "0").is_err() && set(Key::MaxHops, "33").is_err());
        assert!(
            set(Key::MediaDirs, "/media/*").is_ok()
                && set(Key::MediaDirs, "/media/../etc").is_err()
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
