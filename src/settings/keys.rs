// Every setting, defined once: the variant code names it by, its key (the
// long option and the name in settings files), how it takes values, its
// group and help in `--help`, and how a value lands in `Settings`. This one
// table drives the command line, `--help`, settings files, the factory check
// in build.rs and the typed settings; a key misspelt in code does not compile.
//
// Included, not a module: `settings/mod.rs` expands it with the setters,
// and `build.rs` with a `keys!` of its own that keeps names and kinds and
// drops the setters, to check a vendor's factory properties at build time.

keys! {
    Domain "domain" One("NAME") GROUP_DOMAIN
        "Use this DNS domain; no DHCP lookup and no question asked."
        |s, v| s.domain = Some(domain_name(v)?);
    LeaseFile "lease-file" Many("PATH") GROUP_DOMAIN
        "Read the domain from this DHCP lease file (dhclient, systemd-networkd or NetworkManager); repeatable. Only named files are read then."
        |s, v| s.lease_files.push(path(v)?);
    ResolvConf "resolv-conf" One("PATH") GROUP_DOMAIN
        "Read 'domain'/'search' and the nameservers from this file instead of /etc/resolv.conf."
        |s, v| s.resolv_conf = Some(path(v)?);
    Yes "yes" Switch GROUP_DOMAIN
        "Accept the learned domain, any off-domain server, and a link's server without asking."
        |s, v| s.assume_yes = switch(v)?;
    Service "service" One("LABEL") GROUP_DISCOVER
        "SRV label to look up under the domain [default: _maemo_autoconf._tcp]."
        |s, v| s.service = service_label(v)?;
    Dns "dns" Many("IP[:PORT]") GROUP_DISCOVER
        "Ask this nameserver for every lookup instead of resolv.conf's; repeatable."
        |s, v| s.dns.push(nameserver(v)?);
    Server "server" One("URL") GROUP_DISCOVER
        "Fetch the bundle from this https URL; skips the domain and SRV discovery."
        |s, v| s.server = Some(https_url(v)?);
    User "user" One("NAME") GROUP_LOGIN
        "Login name; the password is asked on the terminal (or the askpass helper), or taken from PRECONF_PASSWORD."
        |s, v| s.user = Some(plain(v)?.to_string());
    DeviceId "device-id" One("ID") GROUP_LOGIN
        "Device identity sent to the server (header X-Preconf-Device-Id)."
        |s, v| s.device_id = Some(plain(v)?.to_string());
    DeviceIdFile "device-id-file" One("PATH") GROUP_LOGIN
        "Read the device identity from the first line of this file (a serial number, /etc/machine-id), unless --device-id is given."
        |s, v| s.device_id_file = Some(path(v)?);
    Ca "ca" Many("PEM") GROUP_TLS
        "Trust the CA certificates in this PEM file; repeatable. CAs built into the binary are trusted too."
        |s, v| s.cas.push(path(v)?);
    SystemRoots "system-roots" Switch GROUP_TLS
        "Also trust the system's CA store (/etc/ssl/certs/ca-certificates.crt)."
        |s, v| s.system_roots = switch(v)?;
    ClientCertPem "client-cert" One("PEM") GROUP_TLS
        "Present this device certificate (chain) to the server: mutual TLS."
        |s, v| s.client_cert = Some(path(v)?);
    ClientKeyPem "client-key" One("PEM") GROUP_TLS
        "Private key of --client-cert."
        |s, v| s.client_key = Some(path(v)?);
    Root "root" One("DIR") GROUP_INSTALL
        "Write everything under DIR (install paths, state, dpkg's root) and run the configurator from it [default: /]."
        |s, v| s.root = absolute_path(v)?;
    StateDir "state-dir" One("DIR") GROUP_INSTALL
        "Keep the bundle, certificates and receipt here [default: ROOT/var/lib/preconf]."
        |s, v| s.state_dir = Some(path(v)?);
    Force "force" Switch GROUP_INSTALL
        "Provision again even if a receipt says this device is done."
        |s, v| s.force = switch(v)?;
    NoExec "no-exec" Switch GROUP_INSTALL
        "Install, then print the configurator's command instead of running it."
        |s, v| s.no_exec = switch(v)?;
    Timeout "timeout" One("SECS") GROUP_LIMITS
        "Give up on the whole run after SECS, not counting time spent answering questions [default: 600]."
        |s, v| s.timeout = seconds(v)?;
    IoTimeout "io-timeout" One("SECS") GROUP_LIMITS
        "Give up on a connect, a DNS answer or a silent read after SECS [default: 15]."
        |s, v| s.io_timeout = seconds(v)?;
}
