//! Whom the run trusts: CA certificates from files, those built into the
//! binary, and optionally the system store; and the device's own
//! certificate for mutual TLS. Never "trust anything".

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::error::{Error, Exit, Result, Step};

/// CA bundles of the usual distributions, first existing one wins.
const SYSTEM_STORES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Whom to trust, as the settings say.
pub(crate) struct Trust {
    /// CA certificates built into the binary (DER).
    pub(crate) embedded: &'static [&'static [u8]],
    pub(crate) cas: Vec<PathBuf>,
    /// `provisioning.rootx509`: PEM certificates, or one DER certificate.
    pub(crate) extra: Option<Vec<u8>>,
    pub(crate) system_roots: bool,
    /// Device certificate and key, for mutual TLS.
    pub(crate) client: Option<(PathBuf, PathBuf)>,
}

/// A ready TLS configuration and a line describing it.
pub(crate) struct Tls {
    pub(crate) config: TlsConfig,
    pub(crate) summary: String,
    /// Kept to build a narrower configuration: see [`Tls::narrowed`].
    roots: Arc<Vec<Certificate<'static>>>,
    client: Option<ClientCert>,
}

impl Tls {
    /// The same trust narrowed to the one CA whose DER has this SHA-256:
    /// a server verifies only if its chain leads to that CA. None when the
    /// device does not trust such a CA, since nothing may add one.
    pub(crate) fn narrowed(&self, sha256: &[u8; 32]) -> Option<TlsConfig> {
        let ca = self
            .roots
            .iter()
            .find(|c| Sha256::digest(c.der()).as_slice() == sha256)?;
        Some(config(Arc::new(vec![ca.clone()]), self.client.clone()))
    }

    /// The same trust without the device certificate: for a server that
    /// has not been accepted yet, which learns nothing about the device.
    pub(crate) fn anonymous(&self) -> TlsConfig {
        config(Arc::clone(&self.roots), None)
    }
}

fn config(roots: Arc<Vec<Certificate<'static>>>, client: Option<ClientCert>) -> TlsConfig {
    TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::Specific(roots))
        .client_cert(client)
        .build()
}

/// Reads and checks every certificate and key: a run calls it before its
/// first question and its first packet, so a bad file fails at once.
pub(crate) fn configure(trust: &Trust) -> Result<Tls> {
    let mut roots = Vec::new();
    let mut from = Vec::new();
    roots.extend(trust.embedded.iter().map(|der| Certificate::from_der(der)));
    if !trust.embedded.is_empty() {
        from.push(format!("{} built in", trust.embedded.len()));
    }
    for path in &trust.cas {
        let found = certificates(&read(path, "--ca")?, path)?;
        from.push(format!("{} from {}", found.len(), path.display()));
        roots.extend(found);
    }
    if let Some(bytes) = &trust.extra {
        let found = rootx509(bytes)?;
        from.push(format!("{} from provisioning.rootx509", found.len()));
        roots.extend(found);
    }
    if trust.system_roots {
        let store = SYSTEM_STORES.iter().map(Path::new).find(|p| p.is_file()).ok_or_else(|| {
            Error::new(Step::Settings, Exit::Config, "--system-roots: no system CA store was found (looked for /etc/ssl/certs/ca-certificates.crt and others); pass --ca PEM instead.")
        })?;
        let found = certificates(&read(store, "--system-roots")?, store)?;
        from.push(format!("{} from {}", found.len(), store.display()));
        roots.extend(found);
    }
    if roots.is_empty() {
        return Err(Error::new(
            Step::Settings,
            Exit::Config,
            "no CA certificate to trust: pass --ca PEM with your company's CA, or --system-roots.",
        ));
    }
    let client = match &trust.client {
        Some((cert, key)) => Some(client_cert(cert, key)?),
        None => None,
    };
    let summary = format!(
        "trusting {} CA certificate(s) ({}){}",
        roots.len(),
        from.join(", "),
        if client.is_some() {
            ", presenting the device certificate"
        } else {
            ""
        }
    );
    let roots = Arc::new(roots);
    Ok(Tls {
        config: config(Arc::clone(&roots), client.clone()),
        summary,
        roots,
        client,
    })
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| {
        Error::new(
            Step::Settings,
            Exit::NoInput,
            format!("{flag} {}: {e}; check the path.", path.display()),
        )
    })
}

/// Every certificate in a PEM file; a file with none is a mistake worth saying.
fn certificates(pem: &[u8], path: &Path) -> Result<Vec<Certificate<'static>>> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(bad_pem(path, &e.to_string())),
        }
    }
    if out.is_empty() {
        return Err(bad_pem(path, "it holds no CERTIFICATE block"));
    }
    Ok(out)
}

/// The certificates of `provisioning.rootx509`: PEM when it looks like
/// PEM, else one DER certificate (the OSGi key holds bytes, and either is
/// what a server or a vendor would put there).
fn rootx509(bytes: &[u8]) -> Result<Vec<Certificate<'static>>> {
    let name = Path::new("provisioning.rootx509");
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return certificates(bytes, name);
    }
    // A DER certificate is a SEQUENCE; rustls checks the rest when used.
    if bytes.first() != Some(&0x30) || bytes.len() < 64 {
        return Err(Error::new(
            Step::Settings,
            Exit::Config,
            "provisioning.rootx509 is neither PEM nor a DER certificate; check the value (preconf props shows where it comes from).",
        ));
    }
    Ok(vec![Certificate::from_der(bytes).to_owned()])
}

fn client_cert(cert: &Path, key: &Path) -> Result<ClientCert> {
    let chain = certificates(&read(cert, "--client-cert")?, cert)?;
    let key_pem = read(key, "--client-key")?;
    let key = PrivateKey::from_pem(&key_pem)
        .map_err(|e| bad_pem(key, &format!("no usable private key ({e})")))?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

/// The HTTPS push endpoint of `preconf listen`: the device's certificate
/// chain and key, TLS 1.2 and 1.3 with ring, no client certificate asked.
pub(crate) fn server(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let chain: Vec<CertificateDer<'static>> =
        certificates(&read(cert, "prm.http.provider.cert")?, cert)?
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect();
    let key_pem = read(key, "prm.http.provider.key")?;
    warn_if_readable(key);
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad_pem(key, &format!("no usable private key ({e})")))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map(Arc::new)
        .map_err(|e| {
            Error::new(
                Step::Settings,
                Exit::Config,
                format!(
                    "the push endpoint cannot use {} with {}: {e}; check that the key belongs to the certificate.",
                    cert.display(),
                    key.display()
                ),
            )
        })
}

/// A private key others may read is worth a word, not a refusal: the
/// vendor's image decides its modes.
fn warn_if_readable(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if fs::metadata(key).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        eprintln!(
            "preconf: warning: the private key {} can be read by other users; chmod 600 it.",
            key.display()
        );
    }
}

fn bad_pem(path: &Path, why: &str) -> Error {
    Error::new(
        Step::Settings,
        Exit::Config,
        format!(
            "{} is not a usable PEM file: {why}; check the file.",
            path.display()
        ),
    )
}
