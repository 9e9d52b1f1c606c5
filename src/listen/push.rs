//! `/rminit`, the HTTP info provider: a backend's `POST` of a form whose
//! fields (all but the credentials) become the push provider's properties,
//! and `GET` with `Get-Id`, which sets nothing and answers the device id.
//! Each answer's text is also the listener's log line.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::auth::{Failures, PasswordHash, same};
use super::request::{Answer, Request};
use crate::settings::{self, Key, Layer, Name, Settings, Store, Value};
use crate::state::State;
use crate::state::storage::{LastRun, Read, Storage};

/// A form field, name and value; the credentials are one too.
type Field = (String, String);

/// Fields in one push; names are keys, so short.
const MAX_FIELDS: usize = 64;
const MAX_NAME: usize = 128;
/// Keys the push provider's file holds, over every push.
const MAX_PUSHED: usize = 256;

/// Who may push.
pub(crate) struct Endpoint {
    pub(crate) require_auth: bool,
    pub(crate) user: String,
    /// Present whenever `require_auth` is: `listen` checks at start.
    pub(crate) password: Option<PasswordHash>,
}

/// What every connection shares with the listener.
pub(crate) struct Shared {
    pub(crate) endpoint: Endpoint,
    pub(crate) failures: Mutex<Failures>,
    /// Held while a password is hashed.
    pub(crate) hashing: Mutex<()>,
    pub(crate) device: Mutex<Device>,
    /// Tells the listener to provision from what was pushed.
    pub(crate) runs: Sender<()>,
    /// The command line `listen` was started with, to load the dictionary
    /// again after a push.
    pub(crate) command_line: Layer,
}

/// The device as the last push (or run) left it.
pub(crate) struct Device {
    pub(crate) store: Store,
    pub(crate) settings: Settings,
    pub(crate) spid: Option<String>,
    /// It has a receipt: read once per load, not per discovery probe.
    pub(crate) provisioned: bool,
    /// A run from a push is under way.
    pub(crate) running: bool,
}

impl Device {
    pub(crate) fn load(command_line: &Layer) -> crate::error::Result<Device> {
        let loaded = settings::load(command_line.clone())?;
        let spid = crate::device::id(&loaded.settings).unwrap_or(None);
        let state = State::new(loaded.settings.state_dir());
        let provisioned = matches!(state.receipt(), Ok(Some(_)));
        Ok(Device {
            provisioned,
            store: loaded.store,
            settings: loaded.settings,
            spid,
            running: false,
        })
    }

    pub(crate) fn state(&self) -> State {
        State::new(self.settings.state_dir())
    }

    fn pushed(&self) -> PathBuf {
        self.settings.state_dir().join(settings::PUSHED)
    }
}

/// The answer to one request.
pub(crate) fn answer(req: &Request, peer: IpAddr, shared: &Shared) -> Answer {
    if req.path != "/rminit" {
        return Answer::new(404, "Nothing here; the push endpoint is /rminit.");
    }
    let result = match req.method.as_str() {
        "POST" => push(req, peer, shared),
        "GET" if req.header("get-id").is_some() => get_id(req, peer, shared),
        "GET" => Err(Answer::new(
            405,
            "GET sets nothing: POST the properties as a form, or GET with a Get-Id header for the device id.",
        )
        .with("Allow", "POST, GET".into())),
        _ => Err(Answer::new(405, "The push endpoint takes POST (and GET with Get-Id).")
            .with("Allow", "POST, GET".into())),
    };
    result.unwrap_or_else(|refusal| refusal)
}

/// `GET /rminit` with `Get-Id`: the spid in `Gw-Id`, after the same login
/// as a push.
fn get_id(req: &Request, peer: IpAddr, shared: &Shared) -> Result<Answer, Answer> {
    let fields = form(req.query.as_bytes()).map_err(|why| Answer::new(400, why))?;
    let (credentials, _) = split(fields);
    authenticate(req, credentials, peer, shared)?;
    let spid = shared.device.lock().expect("not poisoned").spid.clone();
    let shown = spid.as_deref().map(header_safe).unwrap_or_default();
    Ok(Answer::new(204, format!("device id asked: {shown}")).with("Gw-Id", shown))
}

/// `POST /rminit`: checks, then keeps the properties in the push
/// provider's file and, when they carry a provisioning.reference, asks
/// the listener to provision from it.
fn push(req: &Request, peer: IpAddr, shared: &Shared) -> Result<Answer, Answer> {
    let form_type = req.header("content-type").is_some_and(|t| {
        let t = String::from_utf8_lossy(t).to_ascii_lowercase();
        t.split(';').next().map(str::trim) == Some("application/x-www-form-urlencoded")
    });
    if !form_type {
        return Err(Answer::new(
            415,
            "Send the properties as application/x-www-form-urlencoded.",
        ));
    }
    let fields = form(&req.body).map_err(|why| Answer::new(400, why))?;
    let (credentials, properties) = split(fields);
    authenticate(req, credentials, peer, shared)?;
    if properties.is_empty() {
        return Err(Answer::new(400, "The push sets no property."));
    }
    let properties = canonical(properties)?;
    let mut device = shared.device.lock().expect("not poisoned");
    if device.running {
        return Err(Answer::new(
            409,
            "A run from an earlier push is under way; push again when it has ended.",
        ));
    }
    let reference = properties
        .iter()
        .find(|(n, _)| n == Key::Reference.name())
        .map(|(_, v)| v.clone());
    if reference.is_some() {
        refuse_if_provisioned(&device)?;
    }
    let stored = keep(&device, &properties)?;
    *device = Device::load(&shared.command_line)
        .map_err(|e| Answer::new(500, format!("The push was stored, but {e}.")))?;
    let names: Vec<&str> = properties.iter().map(|(n, _)| n.as_str()).collect();
    let mut said = format!("set {} (stored in {})", names.join(", "), stored.display());
    if let Some(reference) = reference {
        device.running = true;
        let _ = shared.runs.send(());
        said.push_str(&format!("; provisioning from {reference}"));
    }
    Ok(Answer::new(204, said))
}

/// The fields under their keys' names (`device-id` is
/// `provisioning.spid`), each key once, and values without control
/// characters where a key of the table takes them as text.
fn canonical(properties: Vec<Field>) -> Result<Vec<Field>, Answer> {
    let mut out: Vec<Field> = Vec::new();
    for (name, value) in properties {
        let parsed = Name::parse(&name)
            .map_err(|why| Answer::new(400, format!("The field {}.", header_safe(&why))))?;
        let key = parsed.as_str().to_string();
        if out.iter().any(|(n, _)| *n == key) {
            return Err(Answer::new(400, format!("The key {key} is given twice.")));
        }
        let text = matches!(parsed, Name::Known(k) if k != Key::AgentConfig);
        if text && value.chars().any(char::is_control) {
            return Err(Answer::new(
                400,
                format!("The value of {key} has a control character."),
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// A device with a receipt is done, unless it provisions at every start.
fn refuse_if_provisioned(device: &Device) -> Result<(), Answer> {
    let s = &device.settings;
    if s.force || s.reprovision {
        return Ok(());
    }
    match device.state().receipt() {
        Ok(Some(r)) => Err(Answer::new(
            409,
            format!(
                "This device was provisioned on {} from {}; set prm.reprovision.onstart=true on it to provision it again.",
                r.time, r.server
            ),
        )),
        Ok(None) => Ok(()),
        Err(e) => Err(Answer::new(500, format!("{e}."))),
    }
}

/// The pushed properties merged into the push provider's file, checked as
/// the dictionary would take them, and written atomically; the file's path.
fn keep(device: &Device, properties: &[(String, String)]) -> Result<PathBuf, Answer> {
    let s = &device.settings;
    for (name, value) in properties {
        let value = Value::Text(value.clone());
        // Never a plain-http reference, whatever this listener allows:
        // stored, it would stop every later start that does not.
        settings::check_value(name, &value, false)
            .map_err(|why| Answer::new(400, format!("The property {name} {why}.")))?;
    }
    let file = Storage::at(device.pushed());
    let mut pushed = match file.read() {
        Ok(Read::Whole(p)) => p,
        _ => Default::default(),
    };
    for (name, value) in properties {
        pushed.set(name, Value::Text(value.clone()));
    }
    if pushed.entries.len() > MAX_PUSHED {
        return Err(Answer::new(
            400,
            format!("The device keeps at most {MAX_PUSHED} pushed keys; unset some on it first."),
        ));
    }
    // A new reference is one no run has tried yet.
    if properties.iter().any(|(n, _)| n == Key::Reference.name()) {
        pushed.last_run = None;
    }
    device
        .store
        .check_push(&file.path, &pushed.entries)
        .map_err(|e| Answer::new(400, format!("The push is refused: {}", e.message)))?;
    let dir = s.state_dir();
    crate::state::files::private_dir(&dir)
        .and_then(|()| file.write(&pushed))
        .map_err(|e| {
            Answer::new(
                500,
                format!("Cannot store the push in {}: {e}.", file.path.display()),
            )
        })?;
    Ok(file.path)
}

/// Whether the push provider's file names a reference no run has ended
/// with: a power cut came between the push and the run's end.
pub(crate) fn interrupted(state_dir: &Path) -> bool {
    match Storage::at(state_dir.join(settings::PUSHED)).read() {
        Ok(Read::Whole(p)) => {
            p.last_run.is_none() && p.entries.iter().any(|(n, _)| n == Key::Reference.name())
        }
        _ => false,
    }
}

/// Notes in the push provider's file that a run from its reference has
/// ended: a listener started again then waits for a new push instead of
/// trying the same reference for ever.
pub(crate) fn ended(state_dir: &Path, exit: i32, message: &str) {
    let file = Storage::at(state_dir.join(settings::PUSHED));
    let Ok(Read::Whole(mut pushed)) = file.read() else {
        return;
    };
    pushed.last_run = Some(LastRun {
        time: crate::clock::rfc3339(crate::clock::unix_now()),
        exit,
        message: message.to_string(),
    });
    if let Err(e) = file.write(&pushed) {
        eprintln!(
            "preconf: warning: cannot write {}: {e}.",
            file.path.display()
        );
    }
}

/// Checks the login, unless `prm.require.auth=false`. An address that
/// guessed wrong waits longer after each wrong guess, and is not even
/// checked while it waits.
fn authenticate(
    req: &Request,
    credentials: Option<(String, String)>,
    peer: IpAddr,
    shared: &Shared,
) -> Result<(), Answer> {
    let endpoint = &shared.endpoint;
    if !endpoint.require_auth {
        crate::report::say(
            crate::error::Step::Listen,
            format!("accepting a request from {peer} without a login (prm.require.auth=false)"),
        );
        return Ok(());
    }
    let Some((user, password)) = credentials.or_else(|| basic(req)) else {
        return Err(Answer::new(
            401,
            "A push needs prm.push.user and its password: the fields user and pass, or HTTP Basic.",
        )
        .with("WWW-Authenticate", "Basic realm=\"preconf\"".into()));
    };
    // One guess at a time from an address, and none while it waits.
    let begun = shared
        .failures
        .lock()
        .expect("not poisoned")
        .begin(peer, Instant::now());
    if let Err(wait) = begun {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(Answer::new(
            429,
            format!("Too many logins from {peer}; try again in {secs} s."),
        )
        .with("Retry-After", secs.to_string()));
    }
    // Both checks run whatever the first found, so the time taken does
    // not tell a wrong login from a wrong password. One hash at a time in
    // all: logins cannot take every core.
    let user_ok = same(user.as_bytes(), endpoint.user.as_bytes());
    let password_ok = {
        let _one = shared.hashing.lock().expect("not poisoned");
        endpoint
            .password
            .as_ref()
            .is_some_and(|h| h.verify(&password))
    };
    let mut failures = shared.failures.lock().expect("not poisoned");
    if user_ok && password_ok {
        failures.succeeded(peer);
        return Ok(());
    }
    let wait = failures.failed(peer, Instant::now());
    Err(Answer::new(
        401,
        format!(
            "Wrong login or password; {peer} waits {} s before its next try.",
            wait.as_secs()
        ),
    )
    .with("WWW-Authenticate", "Basic realm=\"preconf\"".into()))
}

/// `Authorization: Basic …`, decoded.
pub(crate) fn basic(req: &Request) -> Option<(String, String)> {
    let value = std::str::from_utf8(req.header("authorization")?).ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(crate::base64::decode(token.trim().as_bytes())?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The credentials (`user` and `pass`, both or neither) and the rest.
fn split(fields: Vec<Field>) -> (Option<Field>, Vec<Field>) {
    let (mut user, mut pass) = (None, None);
    let mut rest = Vec::new();
    for (name, value) in fields {
        match name.as_str() {
            "user" => user = Some(value),
            "pass" => pass = Some(value),
            _ => rest.push((name, value)),
        }
    }
    (user.zip(pass), rest)
}

/// An `application/x-www-form-urlencoded` body or query: at most
/// [`MAX_FIELDS`] fields, short names, each name once, UTF-8 text.
/// `form_urlencoded` (already linked through `url`) decodes; it is linear
/// in the input.
pub(crate) fn form(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut fields = Vec::new();
    let mut seen = HashSet::new();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        if fields.len() == MAX_FIELDS {
            return Err(format!("A push has at most {MAX_FIELDS} fields."));
        }
        if name.len() > MAX_NAME {
            return Err(format!("A field name is at most {MAX_NAME} bytes."));
        }
        // The decoder stands U+FFFD in for bytes that are not UTF-8.
        if name.contains('\u{fffd}') || value.contains('\u{fffd}') {
            return Err(format!(
                "The field {} is not UTF-8 text.",
                header_safe(&name)
            ));
        }
        if !seen.insert(name.to_string()) {
            return Err(format!("The field {} is given twice.", header_safe(&name)));
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    Ok(fields)
}

/// Text fit for a header or a log line: printable ASCII, the rest
/// percent-encoded.
pub(crate) fn header_safe(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_graphic() && b != b'%' || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let f = form(b"user=admin&pass=a%26b+c&provisioning.spid=D-1").unwrap();
        assert_eq!(f[1], ("pass".to_string(), "a&b c".to_string()));
        let (credentials, rest) = split(f);
        assert_eq!(credentials, Some(("admin".into(), "a&b c".into())));
        assert_eq!(
            rest,
            vec![("provisioning.spid".to_string(), "D-1".to_string())]
        );
        assert!(form(b"a.b=1&a.b=2").unwrap_err().contains("twice"));
        assert!(form(b"a.b=%ff").unwrap_err().contains("UTF-8"));
        let many: Vec<String> = (0..=MAX_FIELDS).map(|i| format!("k.f{i}=v")).collect();
        assert!(form(many.join("&").as_bytes()).is_err());
        assert_eq!(form(b"").unwrap(), vec![]);
        assert_eq!(split(vec![("user".into(), "u".into())]).0, None);
    }

    #[test]
    fn header_values_are_printable() {
        assert_eq!(header_safe("ACME-1 x"), "ACME-1 x");
        assert_eq!(header_safe("a\r\nb%é"), "a%0D%0Ab%25%C3%A9");
    }
}
