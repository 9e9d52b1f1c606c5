// Every setting, defined once: the variant code names it by, its key (the
// name in the dictionary and in settings files; the long option too, unless
// it has a dot or a `["flag"]` names another), how it takes values, which
// providers may set it (`Scope`), its group and help in `--help`, and how a
// value lands in `Settings`. This one table drives the command line, `--help`, settings files, the factory check
// in build.rs and the typed settings; a key misspelt in code does not compile.
//
// Included, not a module: `settings/mod.rs` expands it with the setters,
// and `build.rs` with a `keys!` of its own that keeps names and kinds and
// drops the setters, to check a vendor's factory properties at build time.

keys! {
    Domain "domain" One("NAME") Device GROUP_DOMAIN
        "Use this DNS domain; no DHCP lookup and no question asked."
        |s, v| s.domain = Some(domain_name(v)?);
    LeaseFile "lease-file" Many("PATH") Device GROUP_DOMAIN
        "Read the domain from this DHCP lease file (dhclient, systemd-networkd or NetworkManager); repeatable. Only named files are read then."
        |s, v| s.lease_files.push(path(v)?);
    ResolvConf "resolv-conf" One("PATH") Device GROUP_DOMAIN
        "Read 'domain'/'search' and the nameservers from this file instead of /etc/resolv.conf."
        |s, v| s.resolv_conf = Some(path(v)?);
    Yes "yes" Switch Device GROUP_DOMAIN
        "Accept the learned domain, any off-domain server, and a link's server without asking."
        |s, v| s.assume_yes = switch(v)?;
    Service "service" One("LABEL") Device GROUP_DISCOVER
        "SRV label to look up under the domain [default: _maemo_autoconf._tcp]."
        |s, v| s.service = service_label(v)?;
    Dns "dns" Many("IP[:PORT]") Device GROUP_DISCOVER
        "Ask this nameserver for every lookup instead of resolv.conf's; repeatable."
        |s, v| s.dns.push(nameserver(v)?);
    Server "server" One("URL") Device GROUP_DISCOVER
        "Fetch the bundle from this https URL; skips the domain and SRV discovery."
        |s, v| s.server = Some(https_url(v)?);
    User "user" One("NAME") Device GROUP_LOGIN
        "Login name; the password is asked on the terminal (or the askpass helper), or taken from PRECONF_PASSWORD."
        |s, v| s.user = Some(plain(v)?.to_string());
    DeviceId "provisioning.spid" ["device-id"] One("ID") Server GROUP_LOGIN
        "The device identity (OSGi provisioning.spid), sent to the server as header X-Preconf-Device-Id and, to a provisioning.reference, as service_platform_id."
        |s, v| s.device_id = Some(plain(v)?.to_string());
    DeviceIdFile "device-id-file" One("PATH") Device GROUP_LOGIN
        "Read the device identity from the first line of this file (a serial number, /etc/machine-id), unless --device-id is given."
        |s, v| s.device_id_file = Some(path(v)?);
    Ca "ca" Many("PEM") Device GROUP_TLS
        "Trust the CA certificates in this PEM file; repeatable. CAs built into the binary are trusted too."
        |s, v| s.cas.push(path(v)?);
    SystemRoots "system-roots" Switch Device GROUP_TLS
        "Also trust the system's CA store (/etc/ssl/certs/ca-certificates.crt)."
        |s, v| s.system_roots = switch(v)?;
    ClientCertPem "client-cert" One("PEM") Device GROUP_TLS
        "Present this device certificate (chain) to the server: mutual TLS."
        |s, v| s.client_cert = Some(path(v)?);
    ClientKeyPem "client-key" One("PEM") Device GROUP_TLS
        "Private key of --client-cert."
        |s, v| s.client_key = Some(path(v)?);
    Root "root" One("DIR") Root GROUP_INSTALL
        "Write everything under DIR (install paths, state, dpkg's root) and run the configurator from it [default: /]."
        |s, v| s.root = absolute_path(v)?;
    StateDir "state-dir" One("DIR") Boot GROUP_INSTALL
        "Keep the bundle, certificates and receipt here [default: ROOT/var/lib/preconf]."
        |s, v| s.state_dir = Some(path(v)?);
    Force "force" Switch Device GROUP_INSTALL
        "Provision again even if a receipt says this device is done."
        |s, v| s.force = switch(v)?;
    NoExec "no-exec" Switch Device GROUP_INSTALL
        "Install, then print the configurator's command instead of running it."
        |s, v| s.no_exec = switch(v)?;
    Timeout "timeout" One("SECS") Device GROUP_LIMITS
        "Give up on the whole run after SECS, not counting time spent answering questions [default: 600]."
        |s, v| s.timeout = seconds(v)?;
    IoTimeout "io-timeout" One("SECS") Device GROUP_LIMITS
        "Give up on a connect, a DNS answer or a silent read after SECS [default: 15]."
        |s, v| s.io_timeout = seconds(v)?;
    Reference "provisioning.reference" One("URL") Server GROUP_DICT
        "Provision from here instead of DNS discovery: an https:// URL, a file:// bundle (local or removable media), or http:// with prm.insecure.http=true."
        |s, v| s.reference = Some(reference(v)?);
    AgentConfig "provisioning.agent.config" One("BYTES") Server GROUP_DICT
        "Bytes for the configurator, written 0600 to the state directory; PRECONF_AGENT_CONFIG names the file. Secret."
        |s, v| s.agent_config = Some(v.bytes().to_vec());
    StartBundle "provisioning.start.bundle" One("COMMAND") Verified GROUP_DICT
        "Start the configurator with this command (an absolute program, then its arguments, split at spaces) instead of the bundle's."
        |s, v| s.start_command = Some(command(v)?);
    RootX509 "provisioning.rootx509" One("CERTS") Verified GROUP_DICT
        "Also trust these CA certificates (PEM, or one DER certificate), e.g. handed over by an earlier server."
        |s, v| s.root_x509 = Some(v.bytes().to_vec());
    RshSecret "provisioning.rsh.secret" One("BYTES") Server GROUP_DICT
        "Shared secret of the OSGi RSH scheme: kept in the dictionary, masked; no run uses it yet."
        |s, v| { let _ = (s, v.bytes()); };
    UpdateCount "provisioning.update.count" One("N") Kept GROUP_DICT
        "How many times the stored dictionary has changed; kept by preconf, not set."
        |s, v| { let _ = (s, count(v)?); };
    ReprovisionOnStart "prm.reprovision.onstart" Switch Device GROUP_DICT
        "Provision at every start, receipt or not."
        |s, v| s.reprovision = switch(v)?;
    InsecureHttp "prm.insecure.http" Switch Device GROUP_DICT
        "Allow an http:// provisioning.reference: without TLS anyone on the way can read and change what is fetched, so every such request is warned about, and no password is ever sent."
        |s, v| s.insecure_http = switch(v)?;
    MaxHops "prm.reference.max.hops" One("N") Device GROUP_DICT
        "Follow at most N references (a bundle may point to the next) in one run [default: 4]."
        |s, v| s.max_hops = hops(v)?;
    FileAllowed "prm.file.provider.allowed" Switch Boot GROUP_PROVIDERS
        "Read ROOT/etc/preconf/props.txt, and props.txt in prm.media.dirs [default: true]."
        |s, v| s.providers.file = switch(v)?;
    FileLoadOnce "prm.file.load.once" Switch Boot GROUP_PROVIDERS
        "Read ROOT/etc/preconf/props.txt until a run has provisioned with it; from then on the storage keeps what it held [default: true]."
        |s, v| s.providers.file_once = switch(v)?;
    MediaDirs "prm.media.dirs" Many("DIR") Boot GROUP_PROVIDERS
        "Also read props.txt from these directories below ROOT, whenever present; '*' matches one name, as in /media/* [default: none]."
        |s, v| s.providers.media.push(media_dir(v)?);
    EnvAllowed "prm.env.provider.allowed" Switch Boot GROUP_PROVIDERS
        "Read provisioning.* and prm.* keys from the environment, as PROVISIONING_SPID [default: true]."
        |s, v| s.providers.env = switch(v)?;
    EnvPush "prm.env.provider.push.starting.with" One("PREFIX") Boot GROUP_PROVIDERS
        "Also take every environment variable whose key starts with PREFIX (MBS_STORAGE_ROOT is mbs.storage.root); '*' takes them all, see the README first."
        |s, v| s.providers.push = Some(plain(v)?.to_string());
    HttpAllowed "prm.http.provider.allowed" Switch Device GROUP_LISTEN
        "Serve POST /rminit in preconf listen [default: true]."
        |s, v| s.listen.allowed = switch(v)?;
    HttpSecure "prm.http.provider.secure" Switch Device GROUP_LISTEN
        "Serve /rminit over HTTPS only, with prm.http.provider.cert and .key; false serves plain http, which anyone on the way can read [default: true]."
        |s, v| s.listen.secure = switch(v)?;
    HttpAddress "prm.http.provider.address" One("IP") Device GROUP_LISTEN
        "Listen for pushes on this address [default: 0.0.0.0, every IPv4 address]."
        |s, v| s.listen.address = ip(v)?;
    HttpPort "prm.http.provider.port" One("PORT") Device GROUP_LISTEN
        "Listen for pushes on this TCP port [default: 8080]."
        |s, v| s.listen.port = port(v)?;
    HttpCertPem "prm.http.provider.cert" One("PEM") Device GROUP_LISTEN
        "The device's certificate (chain) for the HTTPS push endpoint [default: --client-cert]."
        |s, v| s.listen.cert = Some(path(v)?);
    HttpKeyPem "prm.http.provider.key" One("PEM") Device GROUP_LISTEN
        "Private key of prm.http.provider.cert [default: --client-key]."
        |s, v| s.listen.key = Some(path(v)?);
    RequireAuth "prm.require.auth" Switch Device GROUP_LISTEN
        "Require prm.push.user and its password on every push; false lets anyone who reaches the port provision this device: see the README [default: true]."
        |s, v| s.listen.require_auth = switch(v)?;
    PushUser "prm.push.user" One("NAME") Device GROUP_LISTEN
        "The login a push must give [default: admin]."
        |s, v| s.listen.user = plain(v)?.to_string();
    PushPasswordHash "prm.push.password.hash" One("HASH") Device GROUP_LISTEN
        "The push password, as a salted PBKDF2 hash: set it with preconf props set-push-password. Secret."
        |s, v| s.listen.password = Some(password_hash(v)?);
    ListenAfterRun "prm.listen.after.run" Switch Device GROUP_LISTEN
        "Keep listening after a pushed run has installed the configurator, which then runs beside preconf listen [default: false]."
        |s, v| s.listen.after_run = switch(v)?;
    MulticastHost "mbs.multicast.host" One("IP") Device GROUP_LISTEN
        "The IPv4 multicast group preconf listen answers discovery probes on [default: 225.0.0.0]."
        |s, v| s.listen.group = multicast(v)?;
    MulticastPort "mbs.multicast.port" One("PORT") Device GROUP_LISTEN
        "The UDP port of discovery probes; 0 turns discovery off [default: 7777]."
        |s, v| s.listen.group_port = port_or_off(v)?;
    PrvLog "prm.prv.log" One("URL") Server GROUP_LISTEN
        "Report each run's progress to this https URL, as JSON lines (see the README) [default: the bundle's report_url]."
        |s, v| s.prv_log = Some(https_url(v)?);
    RemoteDebug "prm.remote.debug" Switch Server GROUP_LISTEN
        "Also report every step line to prm.prv.log [default: false]."
        |s, v| s.remote_debug = switch(v)?;
}
