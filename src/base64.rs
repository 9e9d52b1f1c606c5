//! Base64 decoding (RFC 4648, standard alphabet, padded) of the values
//! servers hand over and the storage keeps, in its one canonical form
//! only: padding at the end alone, unused bits zero, so the same bytes are
//! never written two ways.
//!
//! By hand, while `data_encoding` still encodes: its decoder, generic over
//! every encoding it knows, cost 8 KiB of the aarch64 binary for this one
//! use; these 40 lines cost a fraction of that.

/// The bytes of `text`, or None if it is not canonical padded Base64.
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let quads = text.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, quad) in text.chunks_exact(4).enumerate() {
        let pad = if i + 1 == quads {
            quad.iter().rev().take_while(|&&b| b == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut bits = 0u32;
        for &b in &quad[..4 - pad] {
            bits = bits << 6 | u32::from(sextet(b)?);
        }
        bits <<= 6 * pad as u32;
        let bytes = bits.to_be_bytes();
        // With padding, the bits past the last whole byte must be zero.
        let unused = match pad {
            0 => 0,
            1 => bits & 0xff,
            _ => bits & 0xffff,
        };
        if unused != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use data_encoding::BASE64;

    use super::*;

    #[test]
    fn agrees_with_the_encoder() {
        let mut seed = [0u8; 512];
        getrandom::fill(&mut seed).unwrap();
        for n in 0..seed.len() {
            let bytes = &seed[..n];
            assert_eq!(
                decode(BASE64.encode(bytes).as_bytes()).as_deref(),
                Some(bytes)
            );
        }
    }

    #[test]
    fn only_the_canonical_form() {
        for bad in [
            "A", "AA", "AAA", "A===", "====", "AA=A", "eA==eA==", "eB==", "eAB=", "eA ==", "eA=\n",
            "e-A=", "ZW_=",
        ] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(decode(b""), Some(Vec::new()));
        assert_eq!(decode(b"eA=="), Some(b"x".to_vec()));
        assert_eq!(decode(b"eHk="), Some(b"xy".to_vec()));
    }
}
