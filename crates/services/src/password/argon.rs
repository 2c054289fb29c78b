//! Argon2id itself: hashing and verifying in a caller's memory block,
//! PHC strings, and the dummy hash unknown emails are checked against.

use std::fmt;

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::{HashError, ITERATIONS, MEMORY_KIB, OUTPUT_BYTES, PARALLELISM, SALT_BYTES};

fn our_params() -> Result<Params, HashError> {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_BYTES))
        .map_err(|e| HashError::Failed(e.to_string()))
}

fn random<const N: usize>() -> Result<[u8; N], HashError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(bytes)
}

/// Fresh memory for one worker.
pub(super) fn new_memory() -> Vec<Block> {
    vec![Block::new(); MEMORY_KIB as usize]
}

/// A PHC string of our parameters from its salt and output.
fn phc(salt: &[u8], output: &[u8]) -> Result<String, HashError> {
    fn failed(e: impl fmt::Display) -> HashError {
        HashError::Failed(e.to_string())
    }
    let params = our_params()?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(failed)?,
        salt: Some(Salt::new(salt).map_err(failed)?),
        hash: Some(Output::new(output).map_err(failed)?),
    }
    .to_string())
}

/// Hashes `password` with a fresh random salt in `memory` (at least
/// [`MEMORY_KIB`] blocks); returns the PHC string.
pub(super) fn hash_in(memory: &mut [Block], password: &[u8]) -> Result<String, HashError> {
    let salt = random::<SALT_BYTES>()?;
    let mut output = [0u8; OUTPUT_BYTES];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, our_params()?)
        .hash_password_into_with_memory(password, &salt, &mut output, memory)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    phc(&salt, &output)
}

/// Whether `password` matches the PHC string `hash`, computed in `memory`.
/// A malformed hash, or one that needs more memory than `memory` holds,
/// never matches. The comparison takes constant time.
pub(super) fn verify_in(memory: &mut [Block], password: &[u8], hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = Version::try_from(parsed.version.unwrap_or(0x13));
    let params = Params::try_from(&parsed);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return false;
    };
    if params.block_count() > memory.len() {
        tracing::warn!(
            m_cost = params.m_cost(),
            "a stored password hash needs more memory than a hashing worker owns"
        );
        return false;
    }
    let mut computed = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut computed, memory)
        .is_ok();
    // `Output`'s equality is constant-time.
    ok && Output::new(&computed).is_ok_and(|computed| computed == *expected)
}

/// Hashes `password` with a fresh random salt; returns the PHC string.
/// Allocates its own 19 MiB for this one call: for one-off use (the CLI,
/// tests). A server hashes through a [`PasswordHasher`](super::PasswordHasher).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    hash_in(&mut new_memory(), password.as_bytes())
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never
/// matches. Allocates like [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_in(&mut new_memory(), password.as_bytes(), hash)
}

/// A PHC string of our parameters with a random salt and a random output:
/// no password matches it, and checking one against it costs exactly a
/// verification.
pub(super) fn dummy_hash() -> Result<String, HashError> {
    phc(&random::<SALT_BYTES>()?, &random::<OUTPUT_BYTES>()?)
}
