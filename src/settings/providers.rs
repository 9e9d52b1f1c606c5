//! Reading the providers, in rank order from the bottom: the factory
//! defaults, `ROOT/etc/preconf/*.conf`, `props.txt` (and its copies on
//! removable media), the storage, the environment, the command line.
//!
//! `root` and the [`super::Scope::Boot`] keys are looked up first, from the
//! providers that may set them, since they say where the others are.

use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::text::{self, Line, Name};
use super::{Dictionary, Entry, FILES_DIR, Key, Layer, Provider, Settings, Value, factory};
use crate::clock;
use crate::error::{Error, Exit, Result, Step};
use crate::report::say;
use crate::state::files::read_limited;
use crate::state::storage::{self, FileCopy, Storage, Stored};

/// A settings file or props.txt is a few lines; a huge one is not one.
const MAX_TEXT: u64 = 64 * 1024;
/// A `[BINARY]` value: certificates, an agent configuration.
const MAX_BINARY: u64 = 256 * 1024;
/// Every `[BINARY]` value of one props.txt together.
const MAX_BINARY_TOTAL: u64 = 1024 * 1024;
/// Directories `prm.media.dirs` may expand to: removable media, not a tree.
const MAX_MEDIA: usize = 32;
/// The push provider's file in the state directory.
pub(crate) const PUSHED: &str = "pushed";

/// The dictionary of a run, and what it needs to change the stored
/// provider later.
pub(crate) struct Loaded {
    pub(crate) settings: Settings,
    pub(crate) store: Store,
}

/// The stored provider and its file, with the other layers it is merged
/// with.
pub(crate) struct Store {
    /// Every layer but the stored one.
    others: Vec<Layer>,
    /// The dictionary as last merged.
    dictionary: Dictionary,
    storage: Storage,
    pub(crate) stored: Stored,
    /// props.txt as read now, for the storage to keep (prm.file.load.once).
    file_to_keep: Option<FileCopy>,
}

/// Merges every provider into the dictionary and settings of this run.
/// Reads nothing but files and the environment.
pub(crate) fn load(command_line: Layer) -> Result<Loaded> {
    match load_to_mend(command_line)? {
        (loaded, None) => Ok(loaded),
        (_, Some(problem)) => Err(problem),
    }
}

/// [`load`] for `preconf props`: a dictionary whose values do not hold
/// together (a stored or pushed value a later setting refuses) is still
/// shown and can be mended, so the problem comes back beside it, with the
/// settings that say where the providers are.
pub(crate) fn load_to_mend(command_line: Layer) -> Result<(Loaded, Option<Error>)> {
    let factory = factory::layer();
    command_line.admit()?;
    // The root decides where the files are, so it is looked up without
    // them, and alone: everything else is checked once, below.
    let early = Dictionary::merge(vec![factory.clone(), command_line.clone()]);
    let mut root = Settings::default();
    early.apply(Key::Root, &mut root)?;
    let root = root.root;
    let mut others = settings_files(&root.join(FILES_DIR))?;
    others.extend([factory, command_line]);
    // What the storage and the other providers are: from those alone.
    // Only those keys: the whole dictionary is checked once it is whole.
    let early = Dictionary::merge(others.clone());
    let mut boot = Settings::default();
    let first = |k: &&Key| matches!(k.scope(), super::Scope::Root | super::Scope::Boot);
    for key in Key::ALL.iter().filter(first) {
        early.apply(*key, &mut boot)?;
    }
    let storage = Storage::new(&boot.state_dir());
    others.extend(push_layer(&boot.state_dir())?);
    let providers = boot.providers.clone();
    let stored = read_storage(&storage, "the storage")?;

    let mut file_to_keep = None;
    if providers.file {
        let (layer, copy) = props_file(&root, &stored, providers.file_once, &storage.path)?;
        others.extend(layer);
        file_to_keep = copy;
        others.extend(media(&root, &providers.media)?);
    }
    if providers.env {
        others.push(environment(providers.push.as_deref())?);
    }
    for layer in &others {
        layer.admit()?;
    }
    let mut store = Store {
        others,
        dictionary: Dictionary::default(),
        storage,
        stored,
        file_to_keep,
    };
    let (settings, problem) = match store.merge() {
        Ok(settings) => (settings, None),
        Err(problem) => {
            store.dictionary = store.merged()?;
            (boot, Some(problem))
        }
    };
    Ok((Loaded { settings, store }, problem))
}

/// The factory's props.txt: the storage's copy once a run provisioned
/// with it (prm.file.load.once), else the file, with the copy to keep.
fn props_file(
    root: &Path,
    stored: &Stored,
    once: bool,
    storage: &Path,
) -> Result<(Option<Layer>, Option<FileCopy>)> {
    if let Some(copy) = stored.file.as_ref().filter(|_| once) {
        let layer = Layer {
            provider: Provider::File {
                path: PathBuf::from(&copy.path),
                loaded: Some(copy.time.clone()),
            },
            entries: kept_entries(&copy.entries, storage)?,
        };
        return Ok((Some(layer), None));
    }
    let path = root.join(FILES_DIR).join("props.txt");
    let provider = Provider::File {
        path: path.clone(),
        loaded: None,
    };
    let Some(layer) = props_txt(&path, provider)? else {
        return Ok((None, None));
    };
    let copy = once.then(|| FileCopy {
        path: path.display().to_string(),
        time: clock::rfc3339(clock::unix_now()),
        entries: layer
            .entries
            .iter()
            .map(|e| (e.name.as_str().to_string(), e.value.clone()))
            .collect(),
    });
    Ok((Some(layer), copy))
}

impl Store {
    /// Merges every layer with the stored one: the dictionary, kept, and
    /// its settings.
    fn merge(&mut self) -> Result<Settings> {
        let dictionary = self.merged()?;
        let settings = Settings::from_dictionary(&dictionary)?;
        self.dictionary = dictionary;
        Ok(settings)
    }

    /// The settings the dictionary would make with `entries` as the push
    /// provider's: each key checked as that provider may set it, then the
    /// whole. Writes nothing.
    pub(crate) fn check_push(&self, path: &Path, entries: &[(String, Value)]) -> Result<Settings> {
        let layer = Layer {
            entries: kept_entries(entries, path)?,
            provider: Provider::Push {
                path: path.to_path_buf(),
            },
        };
        layer.admit()?;
        let mut layers: Vec<Layer> = self
            .others
            .iter()
            .filter(|l| !matches!(l.provider, Provider::Push { .. }))
            .cloned()
            .collect();
        layers.extend([layer, self.layer()?]);
        Settings::from_dictionary(&Dictionary::merge(layers))
    }

    /// Removes `names` from what a backend pushed (`STATE/pushed`); the
    /// names it held.
    pub(crate) fn unset_pushed(&mut self, names: &[&str]) -> Result<Vec<String>> {
        let file = Storage::at(self.storage.path.with_file_name(PUSHED));
        let Ok(storage::Read::Whole(mut pushed)) = file.read() else {
            return Ok(Vec::new());
        };
        let removed: Vec<String> = names
            .iter()
            .filter(|n| pushed.unset(n))
            .map(|n| n.to_string())
            .collect();
        if removed.is_empty() {
            return Ok(removed);
        }
        file.write(&pushed)
            .map_err(|e| crate::state::cannot_write(&file.path, &e))?;
        // The layer from what was just written: the file is not read again.
        self.others
            .retain(|l| !matches!(l.provider, Provider::Push { .. }));
        self.others.extend(pushed_layer(&pushed, file.path)?);
        self.merge()?;
        Ok(removed)
    }

    /// Every layer with the stored one, merged; the values not yet checked.
    fn merged(&self) -> Result<Dictionary> {
        let stored = self.layer()?;
        stored.admit()?;
        let mut layers = self.others.clone();
        layers.push(stored);
        Ok(Dictionary::merge(layers))
    }

    pub(crate) fn dictionary(&self) -> &Dictionary {
        &self.dictionary
    }

    /// Who gave `key`, as messages name providers.
    pub(crate) fn provider_of(&self, key: Key) -> Option<String> {
        self.dictionary.provider(key).map(ToString::to_string)
    }

    /// The stored provider as a layer, its count of changes included.
    fn layer(&self) -> Result<Layer> {
        let mut entries = kept_entries(&self.stored.entries, &self.storage.path)?;
        if self.stored.update_count > 0 {
            entries.push(Entry::new(
                Name::Known(Key::UpdateCount),
                Value::Text(self.stored.update_count.to_string()),
                None,
            ));
        }
        Ok(Layer {
            provider: Provider::Stored {
                path: self.storage.path.clone(),
            },
            entries,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.storage.path
    }

    /// Keeps props.txt as read by this run in the storage, so later runs
    /// read the copy (prm.file.load.once).
    pub(crate) fn keep_file(&mut self) -> Result<()> {
        let Some(copy) = self.file_to_keep.take() else {
            return Ok(());
        };
        say(
            Step::Settings,
            format!(
                "{} loaded; it will not be read again (prm.file.load.once)",
                copy.path
            ),
        );
        self.stored.file = Some(copy);
        self.stored.update_count = self.stored.update_count.saturating_add(1);
        self.write()
    }

    /// Edits the stored provider with `change`, checks the result as a
    /// whole, and writes it: nothing is stored half-applied.
    pub(crate) fn change(&mut self, change: impl FnOnce(&mut Stored)) -> Result<Settings> {
        let before = self.stored.clone();
        change(&mut self.stored);
        if self.stored == before {
            return self.merge();
        }
        match self.merge() {
            Ok(settings) => {
                self.write()?;
                Ok(settings)
            }
            Err(e) => {
                self.stored = before;
                Err(e)
            }
        }
    }

    /// Notes how the run ended, for `props` and the next run. A failure to
    /// write it is reported, not added to the run's own failure.
    pub(crate) fn record(&mut self, exit: i32, message: &str) {
        self.stored.last_run = Some(storage::LastRun {
            time: clock::rfc3339(clock::unix_now()),
            exit,
            message: message.to_string(),
        });
        if let Err(e) = self.write() {
            eprintln!("preconf: warning: {}", e.message);
        }
    }

    fn write(&self) -> Result<()> {
        let dir = self.storage.path.parent().unwrap_or(Path::new("/"));
        crate::state::files::private_dir(dir)
            .and_then(|()| self.storage.write(&self.stored))
            .map_err(|e| crate::state::cannot_write(&self.storage.path, &e))
    }
}

/// The storage's contents; a damaged file is set aside and reported, and
/// the run goes on with an empty store.
fn read_storage(storage: &Storage, what: &str) -> Result<Stored> {
    let path = &storage.path;
    let read = storage
        .read()
        .map_err(|e| crate::state::cannot_read(path, &e))?;
    Ok(match read {
        storage::Read::Missing => Stored::default(),
        storage::Read::Whole(s) => s,
        storage::Read::Damaged(why) => {
            let aside = match storage.set_aside() {
                Ok(p) => format!("moved to {}", p.display()),
                Err(e) => format!("could not be moved aside ({e})"),
            };
            eprintln!(
                "preconf: warning: {what} {} is damaged ({why}); it was {aside}, and preconf starts from an empty one.",
                path.display()
            );
            Stored::default()
        }
    })
}

/// What a backend last pushed to `preconf listen`, if anything.
fn push_layer(state_dir: &Path) -> Result<Option<Layer>> {
    let file = Storage::at(state_dir.join(PUSHED));
    let pushed = read_storage(&file, "the pushed properties")?;
    pushed_layer(&pushed, file.path)
}

/// The push provider's layer of `pushed`, read from `path`; none when it
/// holds nothing.
fn pushed_layer(pushed: &Stored, path: PathBuf) -> Result<Option<Layer>> {
    if pushed.entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(Layer {
        entries: kept_entries(&pushed.entries, &path)?,
        provider: Provider::Push { path },
    }))
}

/// Entries the storage kept, their names checked again.
fn kept_entries(entries: &[(String, Value)], path: &Path) -> Result<Vec<Entry>> {
    entries
        .iter()
        .map(|(name, value)| {
            let name = Name::parse(name).map_err(|why| {
                Error::new(
                    Step::State,
                    Exit::Config,
                    format!(
                        "{}: {why}; remove it with preconf props unset.",
                        path.display()
                    ),
                )
            })?;
            Ok(Entry::new(name, value.clone(), None))
        })
        .collect()
}

/// One layer per `*.conf` file in `dir`; none when the directory is absent.
fn settings_files(dir: &Path) -> Result<Vec<Layer>> {
    let Ok(entries) = fs::read_dir(dir) else {
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
            let text = read_text(&path)?;
            let lines = text::parse_properties(&text).map_err(|why| unusable(&path, &why))?;
            Ok(Layer {
                entries: text_entries(lines),
                provider: Provider::Settings { path, order },
            })
        })
        .collect()
}

fn text_entries(lines: Vec<Line>) -> Vec<Entry> {
    lines
        .into_iter()
        .map(|l| {
            Entry::new(
                l.name,
                Value::Text(l.value),
                Some(format!("line {}", l.number)),
            )
        })
        .collect()
}

/// A props.txt, if there is one at `path`: `[TEXT]` values, and
/// `[BINARY]` files beside it.
fn props_txt(path: &Path, provider: Provider) -> Result<Option<Layer>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = read_text(path)?;
    let lines = text::parse_props_txt(&text).map_err(|why| unusable(path, &why))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut entries = Vec::new();
    let mut budget = MAX_BINARY_TOTAL;
    for l in lines {
        let at = Some(format!("line {}", l.number));
        let value = if l.binary {
            let bytes = binary(dir, &l.value, budget).map_err(|why| {
                unusable(
                    path,
                    &format!("line {}: {} names {why}", l.number, l.name.as_str()),
                )
            })?;
            budget -= bytes.len() as u64;
            Value::Bytes(bytes)
        } else {
            Value::Text(l.value)
        };
        entries.push(Entry::new(l.name, value, at));
    }
    Ok(Some(Layer { provider, entries }))
}

/// The bytes of a `[BINARY]` line's file, at most `budget` of them: a
/// regular file inside props.txt's directory, reached without a symbolic
/// link, so a props.txt on a stranger's USB stick cannot read the device's
/// own files into the dictionary (nor hang on a FIFO).
fn binary(dir: &Path, rel: &str, budget: u64) -> std::result::Result<Vec<u8>, String> {
    let p = Path::new(rel);
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "'{rel}', which is not a path inside the props.txt directory"
        ));
    }
    let mut path = dir.to_path_buf();
    for part in p.components() {
        path.push(part);
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| format!("{}, which cannot be read ({e})", path.display()))?;
        if meta.file_type().is_symlink() {
            return Err(format!("{}, which is a symbolic link", path.display()));
        }
    }
    if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Err(format!("{}, which is not a regular file", path.display()));
    }
    let limit = MAX_BINARY.min(budget);
    let bytes = read_limited(&path, limit + 1)
        .map_err(|e| format!("{}, which cannot be read ({e})", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{}, which makes a binary value larger than {} KiB, or all of them larger than {} KiB",
            path.display(),
            MAX_BINARY / 1024,
            MAX_BINARY_TOTAL / 1024
        ));
    }
    Ok(bytes)
}

/// props.txt in every directory `prm.media.dirs` names or matches, in name
/// order. Read whenever present and never kept: taking the card out takes
/// its values away.
fn media(root: &Path, patterns: &[String]) -> Result<Vec<Layer>> {
    let mut dirs = Vec::new();
    for pattern in patterns {
        expand(root, pattern, &mut dirs);
    }
    dirs.sort();
    dirs.dedup();
    dirs.truncate(MAX_MEDIA);
    let mut layers = Vec::new();
    for dir in dirs {
        let path = dir.join("props.txt");
        let order = layers.len();
        if let Some(layer) = props_txt(
            &path,
            Provider::Media {
                path: path.clone(),
                order,
            },
        )? {
            layers.push(layer);
        }
    }
    Ok(layers)
}

/// The directories below `root` that `pattern` (absolute, `*` matching
/// within one name) names.
fn expand(root: &Path, pattern: &str, out: &mut Vec<PathBuf>) {
    let mut found = vec![root.to_path_buf()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains('*') {
                next.push(dir.join(part));
                continue;
            }
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            // Bounded: a directory of removable media, not a tree.
            for e in entries.flatten().take(4096) {
                let name = e.file_name();
                if name
                    .to_str()
                    .is_some_and(|n| !n.starts_with('.') && wildcard(part, n))
                {
                    next.push(e.path());
                }
            }
        }
        next.sort();
        next.truncate(MAX_MEDIA);
        found = next;
    }
    out.extend(found.into_iter().filter(|d| d.is_dir()));
}

/// Whether `name` matches `pattern`, where `*` stands for any run of
/// characters. Iterative, with one remembered star: linear in practice,
/// and bounded by the lengths of both.
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

/// The environment variable of a dotted key: `provisioning.spid` is
/// `PROVISIONING_SPID`.
pub(crate) fn variable(name: &str) -> String {
    name.to_ascii_uppercase().replace(['.', '-'], "_")
}

/// The dictionary's keys from the environment: every dotted key of the
/// table by its variable, and with `push`, every variable whose key starts
/// with it. Preconf's own options (no dot) are not read from the
/// environment: `USER`, `DOMAIN` or `ROOT` are in every shell, and the
/// configurator is handed `PRECONF_*` variables of its own.
fn environment(push: Option<&str>) -> Result<Layer> {
    let mut entries = Vec::new();
    let env = Provider::Environment;
    let readable = Key::ALL
        .iter()
        .filter(|k| k.name().contains('.') && env.may_set(k.scope()));
    for key in readable {
        let var = variable(key.name());
        if let Some(v) = std::env::var_os(&var) {
            entries.push(Entry::new(
                Name::Known(*key),
                env_text(&var, v)?,
                Some(format!("(variable {var})")),
            ));
        }
    }
    if let Some(prefix) = push {
        for (var, value) in std::env::vars_os() {
            let Some(name) = pushed(&var, prefix)? else {
                continue;
            };
            if entries.iter().all(|e: &Entry| e.name != name) {
                let var = var.to_string_lossy().into_owned();
                let value = env_text(&var, value)?;
                entries.push(Entry::new(name, value, Some(format!("(variable {var})"))));
            }
        }
    }
    Ok(Layer {
        provider: Provider::Environment,
        entries,
    })
}

/// The key a variable pushes under `prefix` (`*`: all), if any:
/// `MBS_STORAGE_ROOT` is `mbs.storage.root`. Names that make no key are
/// passed over, but for a `provisioning.` key preconf does not know,
/// which is a typo worth stopping for.
fn pushed(var: &OsString, prefix: &str) -> Result<Option<Name>> {
    let Some(var) = var.to_str() else {
        return Ok(None);
    };
    if var.starts_with("PRECONF_")
        || !var
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Ok(None);
    }
    let key = var.to_ascii_lowercase().replace('_', ".");
    // A prefix matches whole parts: `mbs` takes mbs.x, not mbsx.y.
    let prefix = prefix.to_ascii_lowercase();
    let part = prefix.trim_end_matches('.');
    let under = key == part || key.starts_with(&format!("{part}."));
    if !(prefix == "*" || under) || !key.contains('.') {
        return Ok(None);
    }
    match Name::parse(&key) {
        Ok(name) => Ok(Some(name)),
        Err(why) if key.starts_with("provisioning.") => Err(Error::new(
            Step::Settings,
            Exit::Config,
            format!("the environment variable {var}: {why}; fix or unset it."),
        )),
        Err(_) => Ok(None),
    }
}

fn env_text(var: &str, value: OsString) -> Result<Value> {
    value.into_string().map(Value::Text).map_err(|_| {
        Error::new(
            Step::Settings,
            Exit::Config,
            format!("the environment variable {var} is not UTF-8 text; fix or unset it."),
        )
    })
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = read_limited(path, MAX_TEXT + 1).map_err(|e| unusable(path, &e.to_string()))?;
    if bytes.len() as u64 > MAX_TEXT {
        return Err(unusable(
            path,
            &format!("it is larger than {MAX_TEXT} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| unusable(path, "it is not UTF-8 text"))
}

fn unusable(path: &Path, why: &str) -> Error {
    Error::new(
        Step::Settings,
        Exit::Config,
        format!("{}: {why}; fix the file.", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "sdb1"));
        assert!(wildcard("sd*", "sdb1"));
        assert!(wildcard("*1", "sdb1"));
        assert!(wildcard("s*b*", "sdb1"));
        assert!(!wildcard("sd*2", "sdb1"));
        assert!(!wildcard("usb", "usb0"));
        // Many stars against a long name: no blow-up.
        assert!(!wildcard(&"*a".repeat(50), &"a".repeat(49)));
    }

    #[test]
    fn pushed_variables() {
        let push = |v: &str, p: &str| pushed(&OsString::from(v), p).unwrap();
        assert_eq!(
            push("MBS_STORAGE_ROOT", "mbs.storage"),
            Some(Name::Other("mbs.storage.root".into()))
        );
        assert_eq!(push("MBS_STORAGE_ROOT", "prm"), None);
        assert_eq!(push("HOME", "*"), None, "no dot: would be an option");
        assert_eq!(push("PRECONF_PASSWORD", "*"), None);
        assert_eq!(
            push("PROVISIONING_SPID", "*"),
            Some(Name::Known(Key::DeviceId))
        );
        assert!(pushed(&OsString::from("PROVISIONING_SPIDD"), "*").is_err());
        assert_eq!(variable("prm.reference.max.hops"), "PRM_REFERENCE_MAX_HOPS");
    }
}
