//! Bakes a vendor's factory defaults into the binary, checked at build time:
//!
//!   PRECONF_FACTORY_PROPERTIES=factory.properties   key=value settings (see --help)
//!   PRECONF_FACTORY_CA=corp-ca.pem[:other.pem]      CA certificates to trust
//!
//! A missing file, an unknown key or a PEM without a parsable certificate
//! fails the build with a message saying which.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs, process};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The key table of `src/settings/keys.rs`, expanded without its setters:
/// names and kinds, enough to check factory properties.
macro_rules! keys {
    ($( $id:ident $name:literal $([$flag:literal])? $kind:ident $(($meta:literal))?
        $scope:ident $group:ident $help:literal |$s:ident, $v:ident| $set:expr; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Key { $($id),* }

        impl Key {
            const ALL: &[Key] = &[$(Key::$id),*];

            fn name(self) -> &'static str {
                match self { $(Key::$id => $name),* }
            }

            fn kind(self) -> text::Kind {
                match self { $(Key::$id => text::Kind::$kind $(($meta))?),* }
            }

            fn from_name(name: &str) -> Option<Key> {
                match name { $($name $(| $flag)? => Some(Key::$id),)* _ => None }
            }
        }
    };
}

include!("src/settings/keys.rs");

#[path = "src/settings/text.rs"]
#[expect(dead_code, reason = "build.rs uses the parser, not every field")]
mod text;

const PROPERTIES: &str = "PRECONF_FACTORY_PROPERTIES";
const CA: &str = "PRECONF_FACTORY_CA";

fn main() {
    println!("cargo:rerun-if-env-changed={PROPERTIES}");
    println!("cargo:rerun-if-env-changed={CA}");
    println!("cargo:rerun-if-changed=src/settings/keys.rs");
    println!("cargo:rerun-if-changed=src/settings/text.rs");
    println!(
        "cargo:rustc-env=PRECONF_TARGET={}",
        env::var("TARGET").unwrap_or_default()
    );

    // Release builds abort on panic (Cargo.toml): link their binaries without
    // the unwind tables nothing reads (no-unwind-tables.ld): about 230 KiB
    // on aarch64 and x86_64, 40 KiB on armv7. (`cargo bench` builds its
    // binaries with this profile too; there a panic also ends the process.)
    // Here, not in .cargo/config.toml: rustflags would reach the test builds
    // too, which unwind, and RUSTFLAGS would replace them.
    println!("cargo:rerun-if-changed=no-unwind-tables.ld");
    if env::var("PROFILE").as_deref() == Ok("release")
        && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
    {
        let script =
            Path::new(&env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("no-unwind-tables.ld");
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }

    let properties = match env::var_os(PROPERTIES).filter(|v| !v.is_empty()) {
        Some(p) => properties(Path::new(&p)),
        None => Vec::new(),
    };
    let cas: Vec<Vec<u8>> = match env::var_os(CA).filter(|v| !v.is_empty()) {
        Some(list) => env::split_paths(&list)
            .flat_map(|p| certificates(&p))
            .collect(),
        None => Vec::new(),
    };

    let mut out = String::from(
        "/// Factory settings, checked by build.rs.\npub(crate) const PROPERTIES: &[(&str, &str)] = &[\n",
    );
    for (k, v) in &properties {
        writeln!(out, "    ({k:?}, {v:?}),").unwrap();
    }
    out.push_str("];\n/// Factory CA certificates, DER.\npub(crate) const CAS: &[&[u8]] = &[\n");
    for der in &cas {
        writeln!(out, "    &{der:?},").unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("factory.rs");
    fs::write(dest, out).unwrap();
}

fn properties(path: &Path) -> Vec<(String, String)> {
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(path).unwrap_or_else(|e| {
        fail(&format!(
            "{PROPERTIES}={}: cannot read it ({e})",
            path.display()
        ))
    });
    let lines = text::parse_properties(&text)
        .unwrap_or_else(|why| fail(&format!("{PROPERTIES}={}: {why}", path.display())));
    lines
        .into_iter()
        .map(|l| (l.name.as_str().to_string(), l.value))
        .collect()
}

/// The DER of every certificate in a PEM file (nothing else of it, should
/// it hold a key too).
fn certificates(path: &Path) -> Vec<Vec<u8>> {
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = fs::read(path)
        .unwrap_or_else(|e| fail(&format!("{CA}: {}: cannot read it ({e})", path.display())));
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let der = item.unwrap_or_else(|e| {
            fail(&format!(
                "{CA}: {} is not a valid PEM file ({e:?})",
                path.display()
            ))
        });
        if der.first() != Some(&0x30) {
            fail(&format!(
                "{CA}: {} holds a CERTIFICATE block that is not DER",
                path.display()
            ));
        }
        out.push(der.to_vec());
    }
    if out.is_empty() {
        fail(&format!(
            "{CA}: {} holds no CERTIFICATE block",
            path.display()
        ));
    }
    out
}

fn fail(message: &str) -> ! {
    eprintln!("error: factory defaults: {message}");
    process::exit(1)
}
