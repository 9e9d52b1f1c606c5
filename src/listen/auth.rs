//! Who may push: the login `prm.push.user` and a password kept only as a
//! salted PBKDF2-HMAC-SHA256 hash (`preconf props set-push-password`), and
//! the growing wait an address earns with each wrong guess.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use data_encoding::BASE64;
use ring::pbkdf2;

const SCHEME: &str = "pbkdf2-sha256";
/// Slow enough to make each guess at a stolen hash cost, fast enough on a
/// small ARM core (a fraction of a second) for every push to pay it.
const ITERATIONS: u32 = 100_000;
/// Hashes read from a file may say fewer, never absurdly many: checking
/// one must not stall the listener.
const MAX_ITERATIONS: u32 = 10_000_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// `pbkdf2-sha256$ITERATIONS$SALT$HASH`, salt and hash in Base64.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

// Never printed whole, not even in a debug dump of the settings.
impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(********)")
    }
}

impl PasswordHash {
    pub(crate) fn parse(text: &str) -> Result<PasswordHash, String> {
        let bad = || "is not a hash made by preconf props set-push-password".to_string();
        let mut parts = text.trim().split('$');
        let (Some(SCHEME), Some(n), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let iterations = n
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_ITERATIONS)
            .and_then(NonZeroU32::new)
            .ok_or_else(bad)?;
        let salt = crate::base64::decode(salt.as_bytes()).ok_or_else(bad)?;
        let hash = crate::base64::decode(hash.as_bytes()).ok_or_else(bad)?;
        if salt.len() < 8 || hash.len() != HASH_LEN {
            return Err(bad());
        }
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// A new hash of `password` with a fresh random salt.
    pub(crate) fn new(password: &str) -> std::io::Result<PasswordHash> {
        let mut salt = vec![0; SALT_LEN];
        getrandom::fill(&mut salt).map_err(std::io::Error::other)?;
        let iterations = NonZeroU32::new(ITERATIONS).expect("not zero");
        let mut hash = vec![0; HASH_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    pub(crate) fn text(&self) -> String {
        format!(
            "{SCHEME}${}${}${}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(&self.hash)
        )
    }

    /// Whether `password` is the one; ring compares in constant time.
    pub(crate) fn verify(&self, password: &str) -> bool {
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

/// Compares two logins without an early exit, so the time taken does not
/// say how much of a guess was right. By hand: ring's own helper for this
/// is deprecated, and these few lines are the whole of it.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(!x);
    }
    diff == 0
}

/// The first wait after a wrong password; it doubles with each failure
/// from the same address, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Addresses remembered; beyond this the one that waits least is forgotten.
const MAX_ADDRESSES: usize = 1024;

/// Wrong guesses per address, until when each must wait, and the
/// addresses whose guess is being checked.
#[derive(Default)]
pub(crate) struct Failures {
    by_address: HashMap<IpAddr, (u32, Instant)>,
    checking: HashSet<IpAddr>,
}

impl Failures {
    /// How long `ip` must still wait before it may try again, if at all.
    pub(crate) fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let (_, until) = self.by_address.get(&ip)?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Lets `ip` guess, unless it must wait or has a guess being checked
    /// (many at once would all be checked before the first failure
    /// counted); else how long to wait.
    pub(crate) fn begin(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.wait(ip, now) {
            return Err(wait);
        }
        if !self.checking.insert(ip) {
            return Err(FIRST_WAIT);
        }
        Ok(())
    }

    /// Counts a wrong guess from `ip`; returns how long it must now wait.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) -> Duration {
        if self.by_address.len() >= MAX_ADDRESSES && !self.by_address.contains_key(&ip) {
            let soonest = self.by_address.iter().min_by_key(|(_, (_, until))| *until);
            if let Some((&gone, _)) = soonest {
                self.by_address.remove(&gone);
            }
        }
        self.checking.remove(&ip);
        let entry = self.by_address.entry(ip).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        let wait = FIRST_WAIT
            .saturating_mul(1 << (entry.0 - 1).min(10))
            .min(MAX_WAIT);
        entry.1 = now + wait;
        wait
    }

    /// A right password clears the address's count.
    pub(crate) fn succeeded(&mut self, ip: IpAddr) {
        self.checking.remove(&ip);
        self.by_address.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_and_verify() {
        let h = PasswordHash::new("s3cret pass").unwrap();
        let again = PasswordHash::parse(&h.text()).unwrap();
        assert!(again.verify("s3cret pass"));
        assert!(!again.verify("s3cret pas"));
        assert!(!format!("{h:?}").contains(&BASE64.encode(&h.hash)));
        for bad in [
            "",
            "pbkdf2-sha256$0$c2FsdHNhbHQ=$AAAA",
            "md5$1000$c2FsdHNhbHQ=$AAAA",
            &h.text()
                .replace("pbkdf2-sha256$100000", "pbkdf2-sha256$99999999999"),
            &format!("{}$x", h.text()),
        ] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logins_compare_whole() {
        assert!(same(b"admin", b"admin"));
        assert!(!same(b"admin", b"admi"));
        assert!(!same(b"admi", b"admin"));
        assert!(!same(b"", b"\xff"));
        assert!(same(b"", b""));
    }

    #[test]
    fn waits_double_and_are_capped() {
        let mut f = Failures::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        assert_eq!(f.wait(ip, t), None);
        assert_eq!(f.begin(ip, t), Ok(()));
        assert_eq!(f.begin(ip, t), Err(FIRST_WAIT), "one guess at a time");
        assert_eq!(f.failed(ip, t), Duration::from_secs(1));
        assert!(f.begin(ip, t).is_err());
        assert_eq!(f.failed(ip, t), Duration::from_secs(2));
        assert!(f.wait(ip, t).is_some());
        assert_eq!(f.wait(ip, t + Duration::from_secs(3)), None);
        for _ in 0..20 {
            f.failed(ip, t);
        }
        assert_eq!(f.failed(ip, t), MAX_WAIT);
        f.succeeded(ip);
        assert_eq!(f.wait(ip, t), None);
        for i in 0..=MAX_ADDRESSES as u32 {
            f.failed(IpAddr::from(i.to_be_bytes()), t);
        }
        assert!(f.by_address.len() <= MAX_ADDRESSES);
    }
}
