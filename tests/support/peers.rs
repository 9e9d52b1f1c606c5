//! Real servers enterprises run, started by the tests: nginx, dnsmasq and
//! unbound, each in the foreground with a configuration in a directory of
//! its own, ready when it answers, stopped by its pid.
//!
//! A peer that is not installed fails the test loudly: `.ci/run` installs them.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process we started, killed by pid when dropped.
pub struct Peer {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Peer {
    /// Spawns `cmd`, output to `log`, failing loudly if the program is missing.
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Peer {
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}); .ci/run installs it"));
        Peer {
            name,
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{} never got {what}:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP port that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
