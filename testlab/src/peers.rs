//! Real servers enterprises run, started by the tests: nginx, dnsmasq and
//! unbound, each in the foreground with a configuration in a directory of
//! its own, ready when it answers, stopped by its pid; and [`Peer`] for
//! any such process of a test's own (`preconf listen`, say).
//!
//! A peer that is not installed fails the test loudly: `.ci/deps` installs them.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process we started, killed by pid when dropped.
pub struct Peer {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
    /// How long [`Peer::wait_until`] waits: 15 s unless
    /// [`Peer::waiting_at_most`] says otherwise.
    patience: Duration,
}

impl Peer {
    /// Spawns `cmd`, output to `log`, failing loudly if the program is missing.
    pub fn spawn(name: &'static str, cmd: Command, log: &Path) -> Peer {
        let out = File::create(log).unwrap();
        Peer::spawn_to(name, cmd, out.try_clone().unwrap(), out, log)
    }

    /// [`Peer::spawn`] with its stdout in a file of its own, `stdout`:
    /// `log` holds its stderr alone.
    pub fn spawn_with_stdout(name: &'static str, cmd: Command, log: &Path, stdout: &Path) -> Peer {
        let out = File::create(stdout).unwrap();
        Peer::spawn_to(name, cmd, out, File::create(log).unwrap(), log)
    }

    fn spawn_to(name: &'static str, mut cmd: Command, out: File, err: File, log: &Path) -> Peer {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}); .ci/deps installs it"));
        Peer {
            name,
            child,
            log: log.to_path_buf(),
            patience: Duration::from_secs(15),
        }
    }

    /// The same peer, whose waits give up after `limit` instead.
    pub fn waiting_at_most(mut self, limit: Duration) -> Peer {
        self.patience = limit;
        self
    }

    /// What its log holds so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails with the peer's log if it has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log_text());
        }
    }

    /// Waits until `ready` says yes, or fails with the peer's log.
    #[track_caller]
    pub fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {what}:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            assert!(
                t0.elapsed() < self.patience,
                "{} never got {what}:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until its log says `needle`, or fails with the log.
    #[track_caller]
    pub fn wait_for_log(&mut self, needle: &str) {
        let log = self.log.clone();
        self.wait_until(&format!("{needle:?} in its log"), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(needle)
        });
    }

    /// Waits up to `limit` for it to exit on its own; its exit code.
    #[track_caller]
    pub fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                t0.elapsed() < limit,
                "{} did not end:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address of a DNS peer's own (127.x.y.z, outside 127.0.0.0/16
/// and the 127.53.0.0/16 of port-53 servers) and a port free there for UDP
/// and TCP. Nothing else binds that address, so no other test can take the
/// port between this check and the peer's own bind.
pub fn own_loopback_address() -> SocketAddr {
    loop {
        let mut b = [0u8; 3];
        getrandom::fill(&mut b).unwrap();
        let ip = std::net::Ipv4Addr::new(127, b[0].clamp(60, 250), b[1], b[2].max(1));
        let Ok(udp) = UdpSocket::bind((ip, 0)) else {
            continue;
        };
        let addr = udp.local_addr().unwrap();
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

pub fn tcp_answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// True once a DNS server at `addr` answers a query for `name` (any answer).
pub fn dns_answers(addr: SocketAddr, name: &str) -> bool {
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::new();
    m.set_id(4242)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(
            Name::from_ascii(name).unwrap(),
            RecordType::SRV,
        ));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    if sock.send_to(&m.to_vec().unwrap(), addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    sock.recv_from(&mut buf).is_ok()
}

/// nginx serving `www` over TLS on 127.0.0.1 or an address of a namespace.
pub struct Nginx {
    pub peer: Peer,
    pub addr: SocketAddr,
}

pub struct NginxSpec<'a> {
    pub dir: &'a Path,
    pub addr: SocketAddr,
    pub server_name: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    /// CA that device certificates must chain to: `ssl_verify_client on`.
    pub client_ca: Option<&'a str>,
    /// (login, password) pairs for auth_basic.
    pub users: &'a [(&'a str, &'a str)],
    /// Document root; `/bundle` answers `/bundles/$remote_user.json` from it.
    pub www: &'a Path,
}

impl Nginx {
    /// Starts nginx; `wrap` may prefix the command (to enter a namespace).
    pub fn start(spec: &NginxSpec, wrap: &[&str]) -> Nginx {
        let dir = spec.dir;
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("server.pem"), spec.cert_pem).unwrap();
        std::fs::write(dir.join("server.key"), spec.key_pem).unwrap();
        let mut htpasswd = String::new();
        for (user, pass) in spec.users {
            // SHA-512 crypt, which nginx checks with the C library's crypt().
            let out = Command::new("openssl")
                .args(["passwd", "-6", "-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(pass.as_bytes())?;
                    c.wait_with_output()
                });
            let hash = String::from_utf8(
                out.expect("openssl is needed to hash test passwords")
                    .stdout,
            )
            .unwrap();
            htpasswd.push_str(&format!("{user}:{}\n", hash.trim()));
        }
        std::fs::write(dir.join("htpasswd"), htpasswd).unwrap();
        let client = match spec.client_ca {
            Some(ca) => {
                std::fs::write(dir.join("device-ca.pem"), ca).unwrap();
                format!(
                    "ssl_client_certificate {0}/device-ca.pem;\n        ssl_verify_client on;",
                    dir.display()
                )
            }
            None => String::new(),
        };
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    server {{
        listen {addr} ssl;
        server_name {name};
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        {client}
        auth_basic "Device provisioning";
        auth_basic_user_file {d}/htpasswd;
        root {www};
        # One bundle per login: the documented way to run this with stock nginx.
        location = /bundle {{
            default_type application/json;
            try_files /bundles/$remote_user.json =404;
        }}
    }}
}}
"#,
            addr = spec.addr,
            name = spec.server_name,
            www = spec.www.display(),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut cmd = Command::new(wrap.first().copied().unwrap_or("nginx"));
        if !wrap.is_empty() {
            cmd.args(&wrap[1..]).arg("nginx");
        }
        cmd.arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-e", "stderr"]);
        let mut peer = Peer::spawn("nginx", cmd, &dir.join("nginx.out"));
        let addr = spec.addr;
        if wrap.is_empty() {
            peer.wait_until("listening", || tcp_answers(addr));
        } else {
            let pidfile = dir.join("nginx.pid");
            peer.wait_until("its pid file", || pidfile.exists());
        }
        Nginx { peer, addr }
    }
}

/// The records a test publishes, in a form any DNS server can be fed.
pub struct Records {
    /// `_maemo_autoconf._tcp.example.test`
    pub srv_name: String,
    /// (target, priority, weight, port)
    pub targets: Vec<(String, u16, u16, u16)>,
    pub txt: Option<String>,
    pub a: Vec<(String, std::net::Ipv4Addr)>,
}

impl Records {
    /// SRV targets on loopback, with their A records and TXT `path=/bundle`.
    pub fn loopback(srv_name: &str, targets: &[(&str, u16, u16, u16)]) -> Records {
        Records {
            srv_name: srv_name.to_string(),
            targets: targets
                .iter()
                .map(|(h, p, w, port)| (h.to_string(), *p, *w, *port))
                .collect(),
            txt: Some("path=/bundle".to_string()),
            a: targets
                .iter()
                .map(|(h, ..)| (h.to_string(), std::net::Ipv4Addr::LOCALHOST))
                .collect(),
        }
    }

    /// The domain the SRV name is in (after `_service._proto.`).
    pub fn domain(&self) -> &str {
        self.srv_name.splitn(3, '.').nth(2).unwrap_or_default()
    }

    /// dnsmasq options publishing these records, and nothing else.
    pub fn dnsmasq_args(&self) -> Vec<String> {
        let mut a = vec![format!("--local=/{}/", self.domain())];
        for (host, priority, weight, port) in &self.targets {
            a.push(format!(
                "--srv-host={},{host},{port},{priority},{weight}",
                self.srv_name
            ));
        }
        if let Some(t) = &self.txt {
            a.push(format!("--txt-record={},{t}", self.srv_name));
        }
        for (host, ip) in &self.a {
            a.push(format!("--host-record={host},{ip}"));
        }
        a
    }
}

/// dnsmasq answering `records` on a loopback port: DNS only, no DHCP.
pub fn dnsmasq_loopback(dir: &Path, records: &Records) -> (Peer, SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    let addr = own_loopback_address();
    let (ip, port) = (addr.ip(), addr.port());
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        &format!("--listen-address={ip}"),
        "--log-facility=-",
        "--user=root",
    ])
    .arg(format!("--port={port}"))
    .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
    .args(records.dnsmasq_args());
    let mut peer = Peer::spawn("dnsmasq", cmd, &dir.join("dnsmasq.log"));
    let name = records.srv_name.clone();
    peer.wait_until("answering", || dns_answers(addr, &name));
    (peer, addr)
}

/// unbound answering `records` from a static local zone on a loopback port.
pub fn unbound_loopback(dir: &Path, records: &Records) -> (Peer, SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    let addr = own_loopback_address();
    let (ip, port) = (addr.ip(), addr.port());
    let mut data = String::new();
    for (host, priority, weight, p) in &records.targets {
        data.push_str(&format!(
            "    local-data: \"{}. 60 IN SRV {priority} {weight} {p} {host}.\"\n",
            records.srv_name
        ));
    }
    if let Some(t) = &records.txt {
        data.push_str(&format!(
            "    local-data: '{}. 60 IN TXT \"{t}\"'\n",
            records.srv_name
        ));
    }
    for (host, ip) in &records.a {
        data.push_str(&format!("    local-data: \"{host}. 60 IN A {ip}\"\n"));
    }
    let d = dir.display();
    let conf = format!(
        "server:\n    interface: {ip}@{port}\n    port: {port}\n    do-daemonize: no\n    chroot: \"\"\n    username: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    verbosity: 1\n    do-ip6: no\n    access-control: 127.0.0.0/8 allow\n    module-config: \"iterator\"\n    local-zone: \"{}.\" static\n{data}remote-control:\n    control-enable: no\n",
        records.domain()
    );
    let path = dir.join("unbound.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new("unbound");
    cmd.arg("-d").arg("-c").arg(&path);
    let mut peer = Peer::spawn("unbound", cmd, &dir.join("unbound.log"));
    let name = records.srv_name.clone();
    peer.wait_until("answering", || dns_answers(addr, &name));
    (peer, addr)
}
