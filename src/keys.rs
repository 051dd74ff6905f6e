//! The gateway's keys, kept outside the database: whoever reads the database or a backup must
//! not be able to mint tokens or re-identify learners.
//!
//! A key file holds the HS256 signing keys by id (the first signs; the others still verify until
//! the tokens they signed expire) and the key of the learner-ID hash (never rotated: changing it
//! orphans every learner).

use crate::auth::random_token;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKey {
    /// Sent as the token's `kid`.
    pub kid: String,
    pub secret: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Newest first; the first signs.
    pub signing: Vec<SigningKey>,
    pub id_hash: String,
}

/// Shortest key accepted, in characters.
const MIN_KEY_CHARS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("key file {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{0}")]
    Invalid(String),
}

fn file_error(path: &Path, problem: impl ToString) -> KeysError {
    KeysError::File {
        path: path.to_owned(),
        problem: problem.to_string(),
    }
}

fn new_kid() -> String {
    format!("k{}", chrono::Utc::now().format("%Y%m%d%H%M%S"))
}

impl Keys {
    pub fn generate() -> Keys {
        Keys {
            signing: vec![SigningKey {
                kid: new_kid(),
                secret: random_token(48),
            }],
            id_hash: random_token(48),
        }
    }

    /// The first step of a rotation: a new key, last, that verifies but does not sign yet, so
    /// that every replica learns it before any signs with it. Returns its id.
    pub fn rotated(mut self) -> (Keys, String) {
        let mut kid = new_kid();
        while self.signing.iter().any(|k| k.kid == kid) {
            kid.push('b');
        }
        self.signing.push(SigningKey {
            kid: kid.clone(),
            secret: random_token(48),
        });
        (self, kid)
    }

    /// The second step: the key `kid` signs from now on; the others keep verifying.
    pub fn promoted(mut self, kid: &str) -> Result<Keys, KeysError> {
        let at = self
            .signing
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| KeysError::Invalid(format!("no signing key {kid:?}")))?;
        let key = self.signing.remove(at);
        self.signing.insert(0, key);
        Ok(self)
    }

    /// Refuses what would make weak or ambiguous keys.
    pub fn checked(self) -> Result<Keys, KeysError> {
        if self.signing.is_empty() {
            return Err(KeysError::Invalid("no signing key".into()));
        }
        for (i, key) in self.signing.iter().enumerate() {
            if key.kid.is_empty() || self.signing[..i].iter().any(|k| k.kid == key.kid) {
                return Err(KeysError::Invalid(format!(
                    "signing key ids must be present and distinct (got {:?})",
                    key.kid
                )));
            }
            if key.secret.len() < MIN_KEY_CHARS {
                return Err(KeysError::Invalid(format!(
                    "signing key {} must be at least {MIN_KEY_CHARS} characters",
                    key.kid
                )));
            }
        }
        if self.id_hash.len() < MIN_KEY_CHARS {
            return Err(KeysError::Invalid(format!(
                "id_hash must be at least {MIN_KEY_CHARS} characters"
            )));
        }
        Ok(self)
    }

    /// Reads a key file, refusing one that others than its owner may read.
    pub fn load(path: &Path) -> Result<Keys, KeysError> {
        let text = fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        refuse_shared(path)?;
        let keys: Keys = serde_json::from_str(&text).map_err(|e| file_error(path, e))?;
        keys.checked().map_err(|e| file_error(path, e))
    }

    /// The key file's text in a fresh, uniquely named file beside `path`, readable by its owner
    /// only, synced: never seen half-written under `path`.
    fn written_beside(&self, path: &Path) -> Result<PathBuf, KeysError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = path.with_file_name(format!(".{name}.{}.tmp", random_token(6)));
        let mut file = owner_only()
            .create_new(true)
            .open(&temporary)
            .map_err(|e| file_error(&temporary, e))?;
        file.write_all(self.to_json().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| file_error(&temporary, e))?;
        Ok(temporary)
    }

    /// Writes a new key file, readable by its owner only; never overwrites one.
    pub fn create(&self, path: &Path) -> Result<(), KeysError> {
        let temporary = self.written_beside(path)?;
        // A hard link appears whole or not at all, and never replaces an existing file.
        let linked = fs::hard_link(&temporary, path);
        let _ = fs::remove_file(&temporary);
        linked.map_err(|e| file_error(path, e))?;
        sync_folder(path)
    }

    /// Replaces an existing key file at once, keeping its owner (a rotation run as root must
    /// leave a file the gateway's user can still read).
    pub fn replace(&self, path: &Path) -> Result<(), KeysError> {
        let temporary = self.written_beside(path)?;
        let moved = keep_owner(&temporary, path)
            .and_then(|()| fs::rename(&temporary, path).map_err(|e| file_error(path, e)));
        if moved.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        moved?;
        sync_folder(path)
    }

    /// A check of the ID-number key that does not reveal it (an HMAC of a constant under it),
    /// kept in the database: other keys than the learners were found by are refused at start.
    pub fn id_key_check(&self) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.id_hash.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"subsidy-gateway: the ID-number key");
        hex::encode(mac.finalize().into_bytes())
    }

    /// The key file's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("keys serialise") + "\n"
    }

    /// Reads `path`, or generates keys into it when it does not exist yet (the embedded default).
    pub fn load_or_create(path: &Path) -> Result<Keys, KeysError> {
        if path.exists() {
            return Keys::load(path);
        }
        let keys = Keys::generate();
        match keys.create(path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "generated the gateway's keys");
                Ok(keys)
            }
            // Another process on the same database created it first: use theirs.
            Err(_) if path.exists() => Keys::load(path),
            Err(e) => Err(e),
        }
    }
}

/// The key file beside an SQLite database: `data/gateway.db` → `data/gateway.keys.json`.
pub fn beside(database: &Path) -> PathBuf {
    database.with_extension("keys.json")
}

/// Makes a rename or link in `path`'s folder durable.
fn sync_folder(path: &Path) -> Result<(), KeysError> {
    #[cfg(unix)]
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|e| file_error(folder, e))?;
    }
    let _ = path;
    Ok(())
}

#[cfg(unix)]
fn keep_owner(new: &Path, old: &Path) -> Result<(), KeysError> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(old).map_err(|e| file_error(old, e))?;
    std::os::unix::fs::chown(new, Some(metadata.uid()), Some(metadata.gid()))
        .map_err(|e| file_error(new, e))
}

#[cfg(not(unix))]
fn keep_owner(_: &Path, _: &Path) -> Result<(), KeysError> {
    Ok(())
}

#[cfg(unix)]
fn owner_only() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn owner_only() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    options
}

#[cfg(unix)]
fn refuse_shared(path: &Path) -> Result<(), KeysError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| file_error(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(file_error(
            path,
            format!(
                "is readable by others (mode {:o}); run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared(_: &Path) -> Result<(), KeysError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_file_is_the_owners_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let keys = Keys::generate();
        keys.create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let read = Keys::load(&path).unwrap();
        assert_eq!(read.signing[0].secret, keys.signing[0].secret);
        assert_eq!(read.id_hash, keys.id_hash);
        assert!(keys.create(&path).is_err(), "never overwrites");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        Keys::generate().create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = Keys::load(&path).err().expect("refused").to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn rotation_adds_a_verifying_key_then_promotes_it() {
        let keys = Keys::generate();
        let old = keys.signing[0].kid.clone();
        let (rotated, new) = keys.rotated();
        let rotated = rotated.checked().unwrap();
        assert_eq!(rotated.signing.len(), 2);
        assert_eq!(rotated.signing[0].kid, old, "the old key still signs");
        assert_eq!(rotated.signing[1].kid, new);
        let promoted = rotated.promoted(&new).unwrap();
        assert_eq!(promoted.signing[0].kid, new);
        assert_eq!(promoted.signing[1].kid, old);
        assert!(promoted.promoted("nope").is_err());
    }

    #[test]
    fn a_replaced_file_is_whole_and_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let keys = Keys::generate();
        keys.create(&path).unwrap();
        let (rotated, _) = keys.rotated();
        rotated.replace(&path).unwrap();
        assert_eq!(Keys::load(&path).unwrap().signing.len(), 2);
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left beside it");
    }

    #[test]
    fn weak_or_ambiguous_keys_are_refused() {
        let mut short = Keys::generate();
        short.signing[0].secret = "short".into();
        assert!(short.checked().is_err());
        let mut twins = Keys::generate();
        twins.signing.push(twins.signing[0].clone());
        assert!(twins.checked().is_err());
        let mut none = Keys::generate();
        none.signing.clear();
        assert!(none.checked().is_err());
    }
}
