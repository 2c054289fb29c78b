//! The key format: `pyk_<public id>_<secret>`.
//!
//! - the public id is 12 characters of Crockford base32 (`0-9A-Z` without
//!   `I L O U`), 60 random bits: what the key is looked up by, and shown
//!   (as `pyk_<public id>`) so a user can recognise a key;
//! - the secret is 32 random bytes from the OS, in lower-case hex (64
//!   characters). Only its SHA-256 is stored: a slow hash buys nothing for
//!   256 random bits, and a fast one keeps key authentication cheap.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "pyk_";
/// Characters of the public id.
pub const PUBLIC_ID_LEN: usize = 12;
/// Random bytes of the secret.
pub const SECRET_BYTES: usize = 32;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A whole key, as shown to its owner once. `Debug` never shows it.
pub struct FullKey {
    key: SecretString,
    public_id: String,
    secret_hash: [u8; 32],
}

impl fmt::Debug for FullKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_public_id(f, "FullKey", &self.public_id)
    }
}

/// The random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the OS random source failed: {0}")]
pub struct RandomError(String);

impl FullKey {
    /// A new random key.
    pub fn generate() -> Result<Self, RandomError> {
        let mut public = [0u8; PUBLIC_ID_LEN];
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut public).map_err(|e| RandomError(e.to_string()))?;
        getrandom::fill(&mut secret).map_err(|e| RandomError(e.to_string()))?;
        let public_id: String = public
            .iter()
            .map(|b| char::from(CROCKFORD[usize::from(b & 31)]))
            .collect();
        let secret_hex = hex::encode(secret);
        let secret_hash = hash_secret(&secret_hex);
        Ok(Self {
            key: SecretString::from(format!("{KEY_PREFIX}{public_id}_{secret_hex}")),
            public_id,
            secret_hash,
        })
    }

    /// The key, to show its owner once.
    pub fn expose(&self) -> &str {
        self.key.expose_secret()
    }

    /// The public id.
    pub fn public_id(&self) -> &str {
        &self.public_id
    }

    /// SHA-256 of the secret, to store.
    pub fn secret_hash(&self) -> [u8; 32] {
        self.secret_hash
    }
}

/// `Debug` of a key: its type and public id, never its secret.
fn debug_public_id(f: &mut fmt::Formatter<'_>, name: &str, public_id: &str) -> fmt::Result {
    f.debug_struct(name)
        .field("public_id", &public_id)
        .finish_non_exhaustive()
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A key as presented by a caller, parsed but not yet checked.
pub struct PresentedKey {
    public_id: String,
    secret_hash: [u8; 32],
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_public_id(f, "PresentedKey", &self.public_id)
    }
}

/// Why a presented key is not even shaped like a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedKey {
    #[error("the key does not start with pyk_")]
    Prefix,
    #[error("the key has no secret part")]
    MissingSecret,
    #[error("the key's public id is not 12 base32 characters")]
    PublicId,
    #[error("the key's secret is not 64 hex characters")]
    Secret,
}

impl PresentedKey {
    /// Parses `pyk_<public id>_<secret>`.
    pub fn parse(raw: &str) -> Result<Self, MalformedKey> {
        let rest = raw.strip_prefix(KEY_PREFIX).ok_or(MalformedKey::Prefix)?;
        let (public_id, secret) = rest.split_once('_').ok_or(MalformedKey::MissingSecret)?;
        if public_id.len() != PUBLIC_ID_LEN || !public_id.bytes().all(|b| CROCKFORD.contains(&b)) {
            return Err(MalformedKey::PublicId);
        }
        if secret.len() != SECRET_BYTES * 2
            || !secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(MalformedKey::Secret);
        }
        Ok(Self {
            public_id: public_id.to_owned(),
            secret_hash: hash_secret(secret),
        })
    }

    /// The public id, to look the key up by.
    pub fn public_id(&self) -> &str {
        &self.public_id
    }

    /// Whether the presented secret hashes to `stored`, compared in
    /// constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == self.secret_hash.len() && bool::from(self.secret_hash.ct_eq(stored))
    }
}

/// `pyk_<public id>`: the non-secret start of a key, shown in lists.
pub fn display_prefix(public_id: &str) -> String {
    format!("{KEY_PREFIX}{public_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_has_the_documented_shape_and_parses_back() {
        let key = FullKey::generate().expect("key");
        let text = key.expose();

        assert!(text.starts_with("pyk_"));
        assert_eq!(text.len(), 4 + PUBLIC_ID_LEN + 1 + SECRET_BYTES * 2);
        assert_eq!(&text[4..16], key.public_id());
        let parsed = PresentedKey::parse(text).expect("parses");
        assert_eq!(parsed.public_id(), key.public_id());
        assert!(parsed.matches(&key.secret_hash()));
    }

    #[test]
    fn keys_are_random() {
        let a = FullKey::generate().expect("key");
        let b = FullKey::generate().expect("key");
        assert_ne!(a.public_id(), b.public_id());
        assert_ne!(a.secret_hash(), b.secret_hash());
    }

    #[test]
    fn only_the_right_secret_matches() {
        let key = FullKey::generate().expect("key");
        let text = key.expose();
        let last = text.chars().last().expect("char");
        let flipped = format!(
            "{}{}",
            &text[..text.len() - 1],
            if last == '0' { '1' } else { '0' }
        );

        let parsed = PresentedKey::parse(&flipped).expect("still well-formed");

        assert!(!parsed.matches(&key.secret_hash()));
        assert!(
            !parsed.matches(&[0; 16]),
            "a hash of another length never matches"
        );
    }

    #[test]
    fn malformed_keys_of_every_shape_are_refused() {
        let good = FullKey::generate().expect("key");
        let text = good.expose().to_owned();
        let (public, secret) = (&text[4..16], &text[17..]);
        for (raw, expected) in [
            (String::new(), MalformedKey::Prefix),
            ("pyk".to_owned(), MalformedKey::Prefix),
            (format!("sk_{public}_{secret}"), MalformedKey::Prefix),
            (format!("PYK_{public}_{secret}"), MalformedKey::Prefix),
            (format!(" pyk_{public}_{secret}"), MalformedKey::Prefix),
            ("pyk_".to_owned(), MalformedKey::MissingSecret),
            (format!("pyk_{public}"), MalformedKey::MissingSecret),
            (format!("pyk_{public}{secret}"), MalformedKey::MissingSecret),
            (format!("pyk__{secret}"), MalformedKey::PublicId),
            (
                format!("pyk_{}_{secret}", &public[..11]),
                MalformedKey::PublicId,
            ),
            (format!("pyk_{public}A_{secret}"), MalformedKey::PublicId),
            (
                format!("pyk_{}_{secret}", public.to_lowercase()),
                MalformedKey::PublicId,
            ),
            (
                format!("pyk_ILOU{}_{secret}", &public[4..]),
                MalformedKey::PublicId,
            ),
            (
                format!("pyk_{}é_{secret}", &public[..10]),
                MalformedKey::PublicId,
            ),
            (format!("pyk_{public}_"), MalformedKey::Secret),
            (
                format!("pyk_{public}_{}", &secret[..63]),
                MalformedKey::Secret,
            ),
            (format!("pyk_{public}_{secret}0"), MalformedKey::Secret),
            (
                format!("pyk_{public}_{}", secret.to_uppercase()),
                MalformedKey::Secret,
            ),
            (
                format!("pyk_{public}_{}_x", &secret[..61]),
                MalformedKey::Secret,
            ),
            (
                format!("pyk_{public}_{}é", &secret[..62]),
                MalformedKey::Secret,
            ),
            (format!("pyk_{public}_{secret} "), MalformedKey::Secret),
        ] {
            assert_eq!(
                PresentedKey::parse(&raw).map(|_| ()),
                Err(expected),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let key = FullKey::generate().expect("key");
        let presented = PresentedKey::parse(key.expose()).expect("parse");
        for (shown, name) in [
            (format!("{key:?}"), "FullKey"),
            (format!("{presented:?}"), "PresentedKey"),
        ] {
            assert!(!shown.contains(&key.expose()[17..]), "{shown}");
            assert!(
                shown.starts_with(name) && shown.contains(key.public_id()),
                "which key it is: {shown}"
            );
        }
    }

    #[test]
    fn the_display_prefix_is_pyk_and_the_public_id() {
        assert_eq!(display_prefix("ABCDEFGHJKMN"), "pyk_ABCDEFGHJKMN");
    }
}
