//! Editing `config.json`: set and unset single keys, checked before anything is written,
//! and written atomically with owner-only permissions.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::env::Environment;
use crate::error::{Error, Origin, Result};
use crate::keys::{self, DEFAULTS};
use crate::load::{self, Warning};
use crate::model::Config;

/// Permission bits of the config file.
pub const FILE_MODE: u32 = 0o600;
/// Permission bits of a directory we create for it.
pub const DIR_MODE: u32 = 0o700;

/// The config file as the user wrote it: only the keys they set, in their order.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl ConfigFile {
    /// Opens the config file the environment selects (see [`crate::config_file_path`]).
    pub fn open_from(env: &Environment) -> Result<Self> {
        Self::open(load::config_file_path(env)?)
    }

    /// Opens a config file; a missing file is an empty configuration. The content must be
    /// a JSON object but is not checked further, so a broken file can still be repaired.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let doc = load::read_document(&path)?.unwrap_or_default();
        Ok(Self { path, doc })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file exists on disk.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// The document as it will be written.
    pub fn document(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// The value written in the file at a dotted key (not the effective value).
    pub fn value(&self, key: &str) -> Option<&Value> {
        keys::lookup_in(&self.doc, &keys::canonical_key(key))
    }

    /// Sets a key from text, read as the key's type: numbers, `true`/`false`, strings, and
    /// JSON (or a comma-separated list) for list and object keys. The whole file is then
    /// checked; on any error nothing changes.
    pub fn set(&mut self, key: &str, raw: &str) -> Result<()> {
        let canonical = keys::canonical_key(key);
        let like = keys::lookup(&DEFAULTS, &canonical);
        let value = keys::interpret(raw, like).map_err(|reason| Error::Invalid {
            origin: Origin::Direct,
            key: canonical.clone(),
            reason,
        })?;
        let first = match self.set_json(&canonical, value) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        // `1,2` for a list of numbers: the items were read as text; try them as numbers.
        if let Some(Value::Array(_)) = like
            && !raw.trim_start().starts_with('[')
        {
            let items = raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())))
                .collect();
            if self.set_json(&canonical, Value::Array(items)).is_ok() {
                return Ok(());
            }
        }
        Err(first)
    }

    /// Sets a key to a JSON value; the whole file is then checked; on any error nothing changes.
    pub fn set_json(&mut self, key: &str, value: Value) -> Result<()> {
        let canonical = keys::canonical_key(key);
        if keys::split(&canonical).is_none() {
            return Err(Error::UnknownKey {
                origin: Origin::Direct,
                key: key.to_owned(),
            });
        }
        let mut doc = self.doc.clone();
        keys::insert(&mut doc, &canonical, value).map_err(|reason| Error::Invalid {
            origin: Origin::Direct,
            key: canonical.clone(),
            reason,
        })?;
        check(&doc, &self.path, &canonical)?;
        self.doc = doc;
        Ok(())
    }

    /// Removes a key from the file (and objects left empty). Returns whether it was there.
    /// The key need not be a known one, so a misspelt key can be removed.
    pub fn unset(&mut self, key: &str) -> Result<bool> {
        if keys::split(key).is_none() {
            return Err(Error::UnknownKey {
                origin: Origin::Direct,
                key: key.to_owned(),
            });
        }
        if keys::remove(&mut self.doc, key).is_some() {
            return Ok(true);
        }
        let canonical = keys::canonical_key(key);
        Ok(canonical != key && keys::remove(&mut self.doc, &canonical).is_some())
    }

    /// Type-checks and validates the file on its own (without the environment).
    pub fn check(&self) -> Result<Config> {
        let origin = Origin::File(self.path.clone());
        let config = load::check_document(&self.doc, &origin)?.config;
        config.validate().map_err(|e| e.with_origin(origin))?;
        Ok(config)
    }

    /// Warnings about the file's and directory's current permissions.
    pub fn permission_warnings(&self) -> Vec<Warning> {
        if self.exists() {
            load::permission_warnings(&self.path)
        } else {
            Vec::new()
        }
    }

    /// Writes the file: the directory is created with mode 0700 if missing, the content goes
    /// to a temporary file created with mode 0600 in the same directory, which then replaces
    /// the config file in one rename. A config file with looser permissions is replaced by
    /// one with 0600.
    pub fn save(&self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.doc).map_err(|e| Error::Io {
            path: self.path.clone(),
            action: "encode",
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        write_atomic(&self.path, text.as_bytes())
    }
}

/// Checks a document about to be written; errors on the key being set are the caller's.
fn check(doc: &Map<String, Value>, path: &Path, key: &str) -> Result<()> {
    let file = Origin::File(path.to_owned());
    let origin_of = |err: &Error| match err.key() {
        Some(k) if keys::is_under(k, key) || keys::is_under(key, k) => Origin::Direct,
        _ => file.clone(),
    };
    let config = load::check_document(doc, &Origin::Direct)
        .map_err(|e| {
            let o = origin_of(&e);
            e.with_origin(o)
        })?
        .config;
    config.validate().map_err(|e| {
        let o = origin_of(&e);
        e.with_origin(o)
    })
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        path,
        action,
        source,
    }
}

/// Creates a directory (and missing parents) with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir).map_err(io_err(dir, "create directory"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        create_private_dir(&dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".to_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A leftover from a crashed write of this same pid is ours to replace.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(FILE_MODE);
        }
        let mut f = options.open(&tmp).map_err(io_err(&tmp, "create"))?;
        #[cfg(unix)]
        {
            // The umask may only remove bits; set them exactly before any content goes in.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(io_err(&tmp, "set permissions of"))?;
        }
        f.write_all(bytes).map_err(io_err(&tmp, "write"))?;
        f.sync_all().map_err(io_err(&tmp, "sync"))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err(path, "replace"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    // Make the rename durable; not every platform can open a directory, so this is best effort.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tmp_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home").join("config.json");
        (dir, path)
    }

    #[test]
    fn set_writes_only_the_key_and_keeps_others() {
        let (_dir, path) = tmp_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"model": {"name": "openai/gpt-4o"}}"#).unwrap();
        let mut f = ConfigFile::open(&path).unwrap();
        f.set("gateway.port", "19000").unwrap();
        f.set("group.skills", "a,b").unwrap();
        f.set("policy.peer.approvalTiers", "0, 1").unwrap();
        f.save().unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            written,
            json!({"model": {"name": "openai/gpt-4o"}, "gateway": {"port": 19000},
                "group": {"skills": ["a", "b"]}, "policy": {"peer": {"approvalTiers": [0, 1]}}})
        );
    }

    #[test]
    fn set_refuses_unknown_keys_and_wrong_types() {
        let (_dir, path) = tmp_file();
        let mut f = ConfigFile::open(&path).unwrap();
        let err = f.set("group.kafkaBrokerz", "x").unwrap_err();
        assert_eq!(err.to_string(), "unknown key \"group.kafkaBrokerz\"");
        let err = f.set("gateway.port", "abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "gateway.port: expected a port number, got \"abc\""
        );
        let err = f.set("group.onboardMode", "closed").unwrap_err();
        assert_eq!(err.key(), Some("group.onboardMode"));
        assert!(
            f.document().is_empty(),
            "nothing changed: {:?}",
            f.document()
        );
        assert!(!path.exists());
    }

    #[test]
    fn aliases_are_written_canonically() {
        let (_dir, path) = tmp_file();
        let mut f = ConfigFile::open(&path).unwrap();
        f.set("agents.defaults.maxToolIterations", "30").unwrap();
        f.set("providers.claude.apiKey", "sk-x").unwrap();
        assert_eq!(f.value("model.maxToolIterations"), Some(&json!(30)));
        assert_eq!(f.value("providers.anthropic.apiKey"), Some(&json!("sk-x")));
        assert!(f.unset("agents.defaults.maxToolIterations").unwrap());
        assert!(!f.unset("model.maxToolIterations").unwrap());
    }

    #[test]
    fn unset_can_remove_a_bad_key() {
        let (_dir, path) = tmp_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"group": {"kafkaBrokerz": "x"}}"#).unwrap();
        let mut f = ConfigFile::open(&path).unwrap();
        let err = f.check().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("config.json: unknown key \"group.kafkaBrokerz\""),
            "{err}"
        );
        // Another set is refused while the file is broken, and says why.
        let err = f.set("gateway.port", "19000").unwrap_err();
        assert_eq!(err.key(), Some("group.kafkaBrokerz"));
        assert!(f.unset("group.kafkaBrokerz").unwrap());
        f.check().unwrap();
        assert!(f.document().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn save_uses_private_permissions_and_tightens() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, path) = tmp_file();
        let mut f = ConfigFile::open(&path).unwrap();
        f.set("gateway.host", "0.0.0.0").unwrap();
        f.save().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let f = ConfigFile::open(&path).unwrap();
        assert!(matches!(
            f.permission_warnings().as_slice(),
            [Warning::LoosePermissions { mode: 0o644, .. }]
        ));
        f.save().unwrap();
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("config.json")]);
    }
}
