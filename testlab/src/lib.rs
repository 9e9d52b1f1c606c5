//! The test lab: test CAs, a DNS server and HTTPS servers on loopback, and
//! the real `preconf` binary pointed at them. Nothing here talks to the
//! machine's own resolver or leaves 127.0.0.1.
//!
//! A dev-only crate for `tests/e2e`, the demo and the benchmark. It drives
//! `preconf` through its command line only, never through its library.

pub mod desktop;
pub mod dns;
pub mod https;
pub mod netns;
pub mod peers;
pub mod pki;
pub mod tty;

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

pub use dns::{DnsServer, Zone};
pub use https::{HttpsServer, Reply, Spec};
pub use pki::Ca;

pub const DOMAIN: &str = "example.test";
pub const SRV: &str = "_maemo_autoconf._tcp.example.test";
pub const LOGIN: &str = "jdoe";
pub const PASSWORD: &str = "correct horse";

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub server_ca: Ca,
    pub device_ca: Ca,
    pub dns: Option<DnsServer>,
    pub servers: Vec<HttpsServer>,
    /// Bytes per second for large bodies of servers started from now on.
    pub rate: Option<u64>,
    /// Where servers started from now on listen: 127.0.0.1, or ::1.
    pub bind: std::net::IpAddr,
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("preconf-test-")
        .tempdir()
        .unwrap()
}

impl Lab {
    pub fn new() -> Lab {
        let lab = Lab {
            dir: temp_dir(),
            server_ca: Ca::new("Test Server CA"),
            device_ca: Ca::new("Test Device CA"),
            dns: None,
            servers: Vec::new(),
            rate: None,
            bind: Ipv4Addr::LOCALHOST.into(),
        };
        lab.file("ca.pem", lab.server_ca.pem().as_bytes());
        lab
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file in the lab directory and returns its path.
    pub fn file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// The directory `preconf --root` provisions into.
    pub fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// Starts an HTTPS server for `host` requiring the test login; returns its port.
    pub fn serve(&mut self, host: &str, routes: HashMap<String, Reply>) -> u16 {
        self.serve_with(host, routes, true, None)
    }

    pub fn serve_with(
        &mut self,
        host: &str,
        routes: HashMap<String, Reply>,
        auth: bool,
        client_ca: Option<String>,
    ) -> u16 {
        let spec = Spec {
            identity: self.server_ca.issue(&[host]),
            auth: auth.then(|| (LOGIN.to_string(), PASSWORD.to_string())),
            client_ca,
            routes,
            rate: self.rate,
            bind: self.bind,
        };
        let server = HttpsServer::start(spec);
        let port = server.port;
        self.servers.push(server);
        port
    }

    pub fn start_dns(&mut self, zone: Zone) {
        self.dns = Some(DnsServer::start(zone));
    }

    /// `preconf` with the lab's DNS, CA and root, the test login, short
    /// timeouts, and an environment holding only PATH and the password.
    pub fn preconf(&self) -> Command {
        self.preconf_trusting(&self.path("ca.pem"))
    }

    /// [`Lab::preconf`] with another CA file as its only --ca.
    pub fn preconf_trusting(&self, ca: &Path) -> Command {
        let mut c = command();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PRECONF_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .args(self.base_args(ca))
            .args(["--user", LOGIN]);
        c
    }

    /// Root, CA, DNS and short timeouts: what every run in the lab needs.
    pub fn base_args(&self, ca: &Path) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--root".into(),
            self.root().display().to_string(),
            "--ca".into(),
            ca.display().to_string(),
        ];
        a.extend(["--io-timeout", "2", "--timeout", "60"].map(String::from));
        if let Some(d) = &self.dns {
            a.extend(["--dns".to_string(), d.addr.to_string()]);
        }
        a
    }

    /// Writes a device certificate issued by `ca`, with its key, and returns
    /// the --client-cert/--client-key flags naming them.
    pub fn device_flags(&self, ca: &Ca, name: &str) -> Vec<String> {
        let id = ca.issue(&["DEV-0001"]);
        let cert = self.file(&format!("{name}.pem"), id.cert_pem.as_bytes());
        let key = self.file(&format!("{name}.key"), id.key_pem.as_bytes());
        vec![
            "--client-cert".into(),
            cert.display().to_string(),
            "--client-key".into(),
            key.display().to_string(),
        ]
    }

    pub fn state(&self) -> PathBuf {
        self.root().join("var/lib/preconf")
    }
}

/// The preconf binary under test: `PRECONF_TEST_BIN` (a cross-built one,
/// say), else the `preconf` in the nearest directory above the running
/// program: tests run from target/<profile>/deps/, examples from
/// target/<profile>/examples/, both beside target/<profile>/preconf.
pub fn bin() -> PathBuf {
    find_bin().unwrap_or_else(|e| {
        panic!("{e}; build it (cargo build --bin preconf) or name one in PRECONF_TEST_BIN")
    })
}

/// [`bin`], or why there is none.
pub fn find_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("PRECONF_TEST_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot tell the running program's path: {e}"))?;
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("preconf"))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            format!(
                "no executable preconf in any directory above {}",
                exe.display()
            )
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A file of dist/ at the repository's root: the desktop entry, the MIME
/// type, the first-boot unit and the packaging script.
pub fn dist(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dist")
        .join(name)
}

/// The words that start preconf: `PRECONF_TEST_RUNNER` (an emulator such
/// as qemu-aarch64-static) first, when set, then the binary.
pub fn argv0() -> Vec<String> {
    let mut v: Vec<String> = std::env::var("PRECONF_TEST_RUNNER")
        .ok()
        .filter(|r| !r.is_empty())
        .into_iter()
        .collect();
    v.push(bin().display().to_string());
    v
}

/// A command that runs preconf, through the emulator if one is set.
pub fn command() -> Command {
    let argv = argv0();
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// The architecture of the binary under test, as Rust names it: asked of
/// the binary itself ("preconf 0.1.0 (aarch64-unknown-linux-musl)").
pub fn target_arch() -> &'static str {
    static ARCH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ARCH.get_or_init(|| {
        let out = command()
            .arg("--version")
            .output()
            .expect("run preconf --version");
        let text = String::from_utf8_lossy(&out.stdout);
        let triple = text.split(['(', ')']).nth(1).unwrap_or_default();
        match triple.split('-').next().unwrap_or_default() {
            a if a.starts_with("armv7") || a == "arm" => "arm".to_string(),
            a => a.to_string(),
        }
    })
}

/// Debian's name for the architecture of the binary under test.
pub fn debian_arch() -> &'static str {
    match target_arch() {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "x86" => "i386",
        "riscv64" => "riscv64",
        other => panic!("no Debian architecture name known for {other}"),
    }
}

/// Whether the binary under test runs through an emulator
/// (`PRECONF_TEST_RUNNER`): a cross build.
pub fn emulated() -> bool {
    std::env::var_os("PRECONF_TEST_RUNNER").is_some_and(|r| !r.is_empty())
}

/// Fails the test, saying why, unless it runs as root: `why` is what needs
/// root (dpkg, network namespaces, port 53).
#[track_caller]
pub fn need_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}); run the tests as root (see README)"
    );
}

/// Whether this process runs as root: effective uid 0, the second number of
/// the `Uid:` line of /proc/self/status.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A loopback port where nothing listens: connections are refused.
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(&Sha256::digest(bytes))
}

/// A configurator that records how it was started into `$PRECONF_ROOT/handoff.txt`.
pub fn configurator_script() -> Vec<u8> {
    b"#!/bin/sh\n{ echo \"args=$*\"; env | grep '^PRECONF_' | sort; } > \"$PRECONF_ROOT/handoff.txt\"\n".to_vec()
}

/// One package entry of a bundle.
pub struct Pkg<'a> {
    pub arch: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub sha256: String,
    pub size: u64,
    pub path: Option<&'a str>,
}

/// The usual exec package: `script` at the relative URL pkgs/corp.sh,
/// placed at /usr/bin/corp-configurator.
pub fn exec_pkg(script: &[u8]) -> Pkg<'static> {
    Pkg {
        arch: "any",
        kind: "exec",
        url: "pkgs/corp.sh",
        sha256: sha256_hex(script),
        size: script.len() as u64,
        path: Some("/usr/bin/corp-configurator"),
    }
}

/// A document root for nginx: jdoe's bundle (and any `more` logins', with
/// their own device ids) under bundles/, and the package under pkgs/.
pub fn nginx_www(lab: &Lab, more: &[(&str, &str)]) -> PathBuf {
    let script = configurator_script();
    let bundle = bundle_json(
        &[exec_pkg(&script)],
        &["/usr/bin/corp-configurator", "--enroll"],
        &[],
    );
    lab.file(&format!("www/bundles/{LOGIN}.json"), bundle.as_bytes());
    for (login, device_id) in more {
        lab.file(
            &format!("www/bundles/{login}.json"),
            bundle.replace("DEV-0001", device_id).as_bytes(),
        );
    }
    lab.file("www/pkgs/corp.sh", &script);
    lab.path("www")
}

impl Pkg<'_> {
    fn json(&self) -> String {
        let path = self
            .path
            .map(|p| format!(", \"path\": \"{p}\""))
            .unwrap_or_default();
        format!(
            "{{ \"arch\": \"{}\", \"type\": \"{}\", \"url\": \"{}\", \"sha256\": \"{}\", \"size\": {}{path} }}",
            self.arch, self.kind, self.url, self.sha256, self.size
        )
    }
}

pub fn bundle_json(packages: &[Pkg], command: &[&str], certs: &[(&str, &str)]) -> String {
    let pkgs: Vec<String> = packages.iter().map(Pkg::json).collect();
    let cmd: Vec<String> = command.iter().map(|c| format!("\"{c}\"")).collect();
    let certs: Vec<String> = certs
        .iter()
        .map(|(n, pem)| {
            format!(
                "{{ \"name\": \"{n}\", \"pem\": \"{}\" }}",
                pem.replace('\n', "\\n")
            )
        })
        .collect();
    format!(
        r#"{{ "format": 1, "future_field": {{ "x": [1, 2] }},
  "user": {{ "name": "Jane Doe", "email": "jane@example.test", "login": "jdoe" }},
  "device": {{ "id": "DEV-0001", "password": "device-secret" }},
  "configurator": {{ "name": "corp-configurator", "packages": [{}], "command": [{}] }},
  "config_url": "https://cfg.example.test/devices/DEV-0001/config",
  "certificates": [{}] }}"#,
        pkgs.join(", "),
        cmd.join(", "),
        certs.join(", ")
    )
}

/// The usual world: cfg1.example.test serving a bundle at /bundle whose
/// exec package is at the relative URL pkgs/corp.sh.
pub struct Standard {
    pub routes: HashMap<String, Reply>,
    pub script: Vec<u8>,
    /// The bundle the routes serve at /bundle, to serve changed or elsewhere.
    pub bundle: String,
}

pub fn standard_routes(lab: &Lab) -> Standard {
    let script = configurator_script();
    let bundle = bundle_json(
        &[exec_pkg(&script)],
        &["/usr/bin/corp-configurator", "--enroll"],
        &[("corp-root", &lab.server_ca.pem())],
    );
    let routes = HashMap::from([
        (
            "/bundle".to_string(),
            Reply::Body(bundle.clone().into_bytes()),
        ),
        ("/pkgs/corp.sh".to_string(), Reply::Body(script.clone())),
    ]);
    Standard {
        routes,
        script,
        bundle,
    }
}

/// The standard zone for servers at the given ports, in that SRV order.
pub fn zone_for(targets: &[(&str, u16, u16, u16)]) -> Zone {
    let mut z = Zone::new().txt(SRV, "path=/bundle");
    for (host, priority, weight, port) in targets {
        z = z
            .srv(SRV, *priority, *weight, *port, host)
            .a(host, Ipv4Addr::LOCALHOST);
    }
    z
}

/// The standard world plus two more domains: other.test (served by
/// cfg.other.test) and guard.test, whose SRV target cfg.elsewhere.test lies
/// outside it.
pub fn three_domain_lab() -> Lab {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes.clone());
    let other = lab.serve("cfg.other.test", s.routes.clone());
    let elsewhere = lab.serve("cfg.elsewhere.test", s.routes);
    let mut zone = zone_for(&[("cfg1.example.test", 10, 1, port)]);
    for (domain, host, port) in [
        ("other.test", "cfg.other.test", other),
        ("guard.test", "cfg.elsewhere.test", elsewhere),
    ] {
        let name = format!("_maemo_autoconf._tcp.{domain}");
        zone = zone
            .srv(&name, 0, 0, port, host)
            .txt(&name, "path=/bundle")
            .a(host, Ipv4Addr::LOCALHOST);
    }
    lab.start_dns(zone);
    lab
}

/// Builds a .deb with dpkg-deb: the configurator plus a postinst that
/// leaves a mark inside the root dpkg installs into.
pub fn build_deb(lab: &Lab) -> Vec<u8> {
    let tree = lab.path("deb");
    lab.file("deb/DEBIAN/control", b"Package: corp-configurator\nVersion: 1.0\nArchitecture: all\nMaintainer: IT <it@example.test>\nDescription: test configurator\n");
    let postinst = lab.file("deb/DEBIAN/postinst", b"#!/bin/sh\nset -e\nmkdir -p \"$DPKG_ROOT/var/lib/corp\"\necho \"$1\" > \"$DPKG_ROOT/var/lib/corp/postinst-ran\"\nenv > \"$DPKG_ROOT/var/lib/corp/postinst-env\"\n");
    let bin = lab.file("deb/usr/bin/corp-configurator", &configurator_script());
    for p in [postinst, bin] {
        std::fs::set_permissions(
            p,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .unwrap();
    }
    let out = lab.path("corp-configurator_1.0_all.deb");
    let st = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::read(out).unwrap()
}

/// The finished process, with the assertions the tests use.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(mut c: Command) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = c.output().unwrap();
        Run {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into(),
            stderr: String::from_utf8_lossy(&stderr).into(),
        }
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\n--- stderr:\n{}\n--- stdout:\n{}",
            self.stderr,
            self.stdout
        );
        self
    }

    /// Fails with this exit code and says `needle` on stderr.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\n--- stderr:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn says(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// The last line of stderr, the error sentence.
    pub fn error_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file below `dir`, none if there is no `dir`: directories are
/// walked, not listed; links are listed, not followed.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every file below `dir` whose bytes hold `needle`.
pub fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// An askpass helper named `name` (`zenity` makes preconf speak zenity's
/// flags to it) in the lab's bin/: it logs each call to the lab's `asked`
/// file as `SSH_ASKPASS_PROMPT|arguments` and answers from `answers`, one
/// per call over the lab's life, empty once they run out; an answer `!N`
/// exits N instead (a cancel).
pub fn askpass(lab: &Lab, name: &str, answers: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let list = lab.file("answers", answers.join("\n").as_bytes());
    let log = lab.path("asked");
    let script = format!(
        "#!/bin/sh\necho \"$SSH_ASKPASS_PROMPT|$*\" >> {log}\nn=$(wc -l < {log})\na=$(sed -n \"${{n}}p\" {list})\ncase \"$a\" in !*) exit \"${{a#!}}\";; esac\necho \"$a\"\n",
        log = log.display(),
        list = list.display()
    );
    let p = lab.file(&format!("bin/{name}"), script.as_bytes());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}
