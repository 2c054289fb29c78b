//! The key that signs session cookies. From `PROMPTYARD_SECRET_KEY` if set;
//! otherwise generated once (64 bytes from the OS) and kept next to the
//! database in `<database>.secret`, readable by its owner only (0600), so a
//! restart does not log everyone out.
//!
//! The file is written whole to a temporary file beside it and then linked
//! into place only if no key file exists yet: two first starts at once
//! never read half a key, and both end up with the one that landed first.
//! An existing key file that its group or others may read is refused (as
//! ssh refuses a private key others can read): whoever can read it can
//! sign session cookies. `chmod 600` it, or delete it to generate a new
//! one (which logs everyone out).

use std::io::Write;
use std::path::{Path, PathBuf};

use actix_web::cookie::Key;

/// Bytes of key material generated, and the least a given key may have
/// (`Key::from` panics on fewer).
pub(crate) const KEY_BYTES: usize = 64;

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("cannot read the secret key file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the secret key file {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key file {} is malformed (expected {} hex characters); delete it to generate a new one", .path.display(), KEY_BYTES * 2)]
    Malformed { path: PathBuf },
    #[error("no PROMPTYARD_SECRET_KEY and no database file to keep a key beside")]
    NoKey,
    #[error("the OS random source failed: {0}")]
    Random(String),
    #[error("the secret key file {} can be read by others (mode {mode:o}); run `chmod 600 {}`", .path.display(), .path.display())]
    Exposed { path: PathBuf, mode: u32 },
}

/// Where the key of the database at `database_path` is kept.
pub(crate) fn key_file(database_path: &str) -> PathBuf {
    PathBuf::from(format!("{database_path}.secret"))
}

/// The cookie key: `configured` bytes if given, else the key file's beside
/// the SQLite database at `database_path` (created on first use).
pub(crate) fn cookie_key(
    configured: Option<&[u8]>,
    database_path: Option<&str>,
) -> Result<Key, SecretError> {
    if let Some(bytes) = configured {
        return Ok(Key::from(bytes));
    }
    let Some(database_path) = database_path else {
        return Err(SecretError::NoKey);
    };
    let path = key_file(database_path);
    match read_key(&path)? {
        Some(bytes) => Ok(Key::from(&bytes)),
        None => create_key(&path),
    }
}

fn read_key(path: &Path) -> Result<Option<Vec<u8>>, SecretError> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SecretError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    hex::decode(text.trim())
        .ok()
        .filter(|bytes| bytes.len() >= KEY_BYTES)
        .map(Some)
        .ok_or_else(|| SecretError::Malformed {
            path: path.to_owned(),
        })
}

fn create_key(path: &Path) -> Result<Key, SecretError> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    let write_error = |source: std::io::Error| SecretError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // A temporary file is created readable by its owner only (0600).
    let mut file = tempfile::Builder::new()
        .prefix(".promptyard-secret-")
        .tempfile_in(dir)
        .map_err(write_error)?;
    file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .map_err(write_error)?;
    match file.persist_noclobber(path) {
        Ok(_) => {
            tracing::info!(path = %path.display(), "generated the cookie signing key");
            Ok(Key::from(&bytes))
        }
        // Another process put its key there first: use theirs.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read_key(path)?
            .map(|bytes| Key::from(&bytes))
            .ok_or_else(|| SecretError::Malformed {
                path: path.to_owned(),
            }),
        Err(e) => Err(write_error(e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_in(dir: &tempfile::TempDir) -> String {
        dir.path().join("p.db").to_str().expect("utf-8").to_owned()
    }

    #[test]
    fn a_key_is_generated_once_kept_private_and_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database_in(&dir);

        let first = cookie_key(None, Some(&db)).expect("generated");
        let second = cookie_key(None, Some(&db)).expect("read back");

        assert_eq!(first.master(), second.master());
        let text = std::fs::read_to_string(key_file(&db)).expect("file");
        assert_eq!(text.trim().len(), KEY_BYTES * 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file(&db))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn simultaneous_first_starts_all_get_the_one_key_that_landed() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database_in(&dir);

        let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| cookie_key(None, Some(&db)).map(|k| k.master().to_vec())))
                .collect();
            starts
                .into_iter()
                .map(|s| s.join().expect("thread").expect("a whole key"))
                .collect()
        });

        assert!(keys.windows(2).all(|w| w[0] == w[1]), "one key for all");
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["p.db.secret"], "no temporary file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_naming_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let db = database_in(&dir);
        cookie_key(None, Some(&db)).expect("generated");
        for mode in [0o644, 0o640, 0o604] {
            std::fs::set_permissions(key_file(&db), std::fs::Permissions::from_mode(mode))
                .expect("chmod");

            let err = cookie_key(None, Some(&db)).err().expect("refused");

            assert!(matches!(err, SecretError::Exposed { .. }), "{err:?}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert!(err.to_string().contains("p.db.secret"), "{err}");
        }
        std::fs::set_permissions(key_file(&db), std::fs::Permissions::from_mode(0o400))
            .expect("chmod");
        assert!(cookie_key(None, Some(&db)).is_ok(), "owner-only is fine");
    }

    #[test]
    fn a_configured_key_wins_and_writes_no_file() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database_in(&dir);
        let configured = [7u8; 64];

        let key = cookie_key(Some(&configured), Some(&db)).expect("configured");

        assert_eq!(key.master(), Key::from(&configured).master());
        assert!(!key_file(&db).exists());
    }

    #[test]
    fn a_malformed_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database_in(&dir);
        for junk in ["not hex at all", "abcd", &"zz".repeat(64)] {
            std::fs::write(key_file(&db), junk).expect("write");
            let err = cookie_key(None, Some(&db)).err().expect("malformed");
            assert!(err.to_string().contains("p.db.secret"), "{err}");
        }
    }

    #[test]
    fn an_unwritable_location_is_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir
            .path()
            .join("missing/p.db")
            .to_str()
            .expect("utf-8")
            .to_owned();
        let err = cookie_key(None, Some(&db)).err().expect("cannot create");
        assert!(matches!(err, SecretError::Write { .. }), "{err:?}");
    }
}
