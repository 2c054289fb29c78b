//! Password hashing: Argon2id, m = 19456 KiB, t = 2, p = 1 (OWASP's
//! recommendation), stored as a PHC string that carries its own parameters
//! and salt.
//!
//! [`PasswordHasher`] runs every hash and verification on the blocking pool
//! behind a semaphore sized to the machine's cores: a storm of logins queues
//! for the hasher instead of taking every thread and starving other
//! requests. It also verifies against a dummy hash when an account does not
//! exist, so both failures of a login take the same time.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::credentials::Password;

/// Argon2id memory cost, KiB.
pub const MEMORY_KIB: u32 = 19_456;
/// Argon2id passes.
pub const ITERATIONS: u32 = 2;
/// Argon2id lanes.
pub const PARALLELISM: u32 = 1;

/// Hashing failed. With fixed, valid parameters and the OS's random source
/// this does not happen in practice; it is an error, not a panic, all the
/// same.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt; returns the PHC string.
/// CPU-bound for tens of milliseconds: prefer [`PasswordHasher::hash`].
pub fn hash_password(password: &str) -> Result<String, HashError> {
    argon2()?
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never
/// matches. CPU-bound: prefer [`PasswordHasher::verify`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    argon2().is_ok_and(|argon2| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Hashes and verifies on the blocking pool, at most one per core at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("concurrency", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher running at most one hash per available core. Computes the
    /// dummy hash (once, ~20 ms).
    pub fn new() -> Result<Self, HashError> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::with_concurrency(cores)
    }

    /// A hasher running at most `concurrency` hashes at once.
    pub fn with_concurrency(concurrency: usize) -> Result<Self, HashError> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: hash_password("not anyone's password: equalises login timing")?.into(),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        self.run(move || hash_password(&password))
            .await
            .unwrap_or_else(|e| Err(HashError(e)))
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: &str, hash: &str) -> bool {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.run(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false)
    }

    /// Spends the time of a verification without an account, so a login
    /// for an unknown email takes as long as a wrong password. Always
    /// `false`.
    pub async fn verify_dummy(&self, password: &str) -> bool {
        let hash = Arc::clone(&self.dummy_hash);
        let password = password.to_owned();
        let _ = self.run(move || verify_password(&password, &hash)).await;
        false
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_an_argon2id_phc_string_with_our_parameters() {
        let hash = hash_password("correct horse battery staple").expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
    }

    #[test]
    fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hash = hash_password("correct horse battery staple").expect("hash");
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stapler", &hash));
        assert!(!verify_password("", &hash));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let a = hash_password("same password").expect("hash");
        let b = hash_password("same password").expect("hash");
        assert_ne!(a, b, "fresh salt");
    }

    #[test]
    fn a_malformed_hash_never_verifies() {
        for hash in [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$md5$x",
        ] {
            assert!(!verify_password("anything", hash), "{hash:?}");
        }
    }

    #[test]
    fn unicode_passwords_round_trip() {
        let hash = hash_password("pässwörd-🔑-密码").expect("hash");
        assert!(verify_password("pässwörd-🔑-密码", &hash));
        assert!(!verify_password("passwort-🔑-密码", &hash));
    }

    #[tokio::test]
    async fn the_hasher_hashes_and_verifies_on_the_blocking_pool() {
        let hasher = PasswordHasher::with_concurrency(1).expect("hasher");
        let password = Password::parse("correct horse").expect("valid");

        let hash = hasher.hash(&password).await.expect("hash");

        assert!(hasher.verify("correct horse", &hash).await);
        assert!(!hasher.verify("wrong horse", &hash).await);
        assert!(!hasher.verify_dummy("correct horse").await);
        assert!(!format!("{hasher:?}").contains("argon2"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_permitted_number_of_hashes_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hasher = PasswordHasher::with_concurrency(2).expect("hasher");
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));

        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (hasher, running, peak) =
                    (hasher.clone(), Arc::clone(&running), Arc::clone(&peak));
                tokio::spawn(async move {
                    hasher
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("ran");
        }

        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
