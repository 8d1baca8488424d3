//! Loading: defaults, then `config.json`, then environment variables; legacy keys moved
//! to their places; paths resolved under `KAFCLAW_HOME`; the result validated.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::de;
use crate::env::{BINDINGS, Environment, FALLBACKS, LEGACY_PREFIX};
use crate::error::{Error, Origin, Result};
use crate::keys::{self, DEFAULTS, LEGACY_MOVES};
use crate::model::Config;

/// Something worth telling the operator that does not stop the start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The config file or its directory can be read by other users.
    LoosePermissions {
        /// File or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The bits it should have.
        wanted: u32,
    },
    /// A key of the old layout was read at its new place.
    LegacyKey {
        /// The old key, e.g. `agents.defaults.workspace`.
        key: String,
        /// Where it is read now, e.g. `paths.workspace`.
        canonical: String,
    },
    /// A key of the old layout was ignored because the new key is also set.
    IgnoredLegacyKey {
        /// The old key.
        key: String,
        /// The new key that wins.
        canonical: String,
    },
    /// A `MIKROBOT_*` variable was used.
    LegacyVariable {
        /// The variable used.
        var: String,
        /// The name to use instead.
        instead: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::LoosePermissions { path, mode, wanted } => write!(
                f,
                "{} has permissions {mode:04o}, which lets other users read it; it should be \
                 {wanted:04o} (`chmod {wanted:o} {}`; `kafclaw config set` writes the file {:04o})",
                path.display(),
                path.display(),
                crate::file::FILE_MODE
            ),
            Warning::LegacyKey { key, canonical } => {
                write!(
                    f,
                    "config key \"{key}\" is a legacy name; it is read as \"{canonical}\""
                )
            }
            Warning::IgnoredLegacyKey { key, canonical } => write!(
                f,
                "config key \"{key}\" is ignored because \"{canonical}\" is also set"
            ),
            Warning::LegacyVariable { var, instead } => {
                write!(
                    f,
                    "environment variable {var} is a legacy name; use {instead}"
                )
            }
        }
    }
}

/// Where KafClaw keeps its state. Everything lives under `home` (`KAFCLAW_HOME`, by default
/// `~/.kafclaw`) unless the config points `workspace`/`workRepoPath` elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Paths {
    /// `KAFCLAW_HOME`.
    pub home: PathBuf,
    /// The config file (`$KAFCLAW_HOME/config.json`, or `KAFCLAW_CONFIG`).
    pub config_file: PathBuf,
    /// The SQLite timeline (`$KAFCLAW_HOME/timeline.db`).
    pub timeline_db: PathBuf,
    /// Session transcripts (`$KAFCLAW_HOME/sessions`).
    pub sessions_dir: PathBuf,
    /// Subagent run registry (`$KAFCLAW_HOME/subagents`).
    pub subagents_dir: PathBuf,
    /// Installed skills and their audit logs (`$KAFCLAW_HOME/skills`).
    pub skills_dir: PathBuf,
    /// Embedding model cache (`memory.embedding.cacheDir`).
    pub models_dir: PathBuf,
    /// Soul files and agent state (`paths.workspace`).
    pub workspace: PathBuf,
    /// Root for filesystem writes (`paths.workRepoPath`).
    pub work_repo: PathBuf,
    /// System/identity repository (`paths.systemRepoPath`), if configured.
    pub system_repo: Option<PathBuf>,
}

impl Paths {
    /// Creates `home` (mode 0700) if it does not exist yet. Components that write state
    /// under it call this first; an existing directory is left as it is.
    pub fn ensure_home(&self) -> Result<()> {
        if self.home.is_dir() {
            return Ok(());
        }
        crate::file::create_private_dir(&self.home)
    }
}

/// Locations known before the config is read.
#[derive(Debug, Clone)]
pub(crate) struct Locations {
    pub(crate) user_home: Option<PathBuf>,
    pub(crate) home: PathBuf,
    pub(crate) config_file: PathBuf,
}

/// Expands a leading `~` to the user's home directory.
fn expand_tilde(value: &str, user_home: Option<&Path>) -> Option<PathBuf> {
    if value == "~" {
        return user_home.map(Path::to_path_buf);
    }
    match value.strip_prefix("~/") {
        Some(rest) => user_home.map(|h| h.join(rest)),
        None => Some(PathBuf::from(value)),
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

impl Locations {
    pub(crate) fn find(env: &Environment) -> Result<Self> {
        let user_home = env.get("HOME").map(PathBuf::from);
        let home_var = env.get("KAFCLAW_HOME").or_else(|| env.get("MIKROBOT_HOME"));
        let home = match home_var {
            Some(v) => expand_tilde(v, user_home.as_deref()).ok_or(Error::NoHomeDirectory)?,
            None => user_home
                .as_ref()
                .map(|h| h.join(".kafclaw"))
                .ok_or(Error::NoHomeDirectory)?,
        };
        let home = absolute(home);
        let config_var = env
            .get("KAFCLAW_CONFIG")
            .or_else(|| env.get("MIKROBOT_CONFIG"));
        let config_file = match config_var {
            Some(v) => {
                absolute(expand_tilde(v, user_home.as_deref()).ok_or(Error::NoHomeDirectory)?)
            }
            None => home.join("config.json"),
        };
        Ok(Self {
            user_home,
            home,
            config_file,
        })
    }
}

/// The path of the config file these variables select (`KAFCLAW_CONFIG`, else
/// `$KAFCLAW_HOME/config.json`, else `~/.kafclaw/config.json`).
pub fn config_file_path(env: &Environment) -> Result<PathBuf> {
    Locations::find(env).map(|l| l.config_file)
}

/// A loaded, validated configuration with the paths it resolves to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The effective configuration (defaults, file and environment merged; paths absolute).
    pub config: Config,
    /// Where state lives.
    pub paths: Paths,
    /// Things to tell the operator (loose permissions, legacy names).
    pub warnings: Vec<Warning>,
}

/// A value set from the environment, remembered to attribute errors to its variable.
struct Applied {
    var: String,
    value: String,
    key: String,
}

impl Applied {
    fn origin(&self) -> Origin {
        Origin::Env {
            var: self.var.clone(),
            value: self.value.clone(),
        }
    }
}

/// Reads the config file: `None` when it does not exist.
pub(crate) fn read_document(path: &Path) -> Result<Option<Map<String, Value>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                action: "read",
                source,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(Error::Syntax {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: "the top level must be a JSON object".to_owned(),
        }),
        Err(e) => Err(Error::Syntax {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
    }
}

/// Moves keys of the legacy layout to their canonical places. Returns the (canonical,
/// legacy) pairs actually moved, for error messages.
pub(crate) fn migrate_legacy(
    doc: &mut Map<String, Value>,
    warnings: &mut Vec<Warning>,
) -> Vec<(String, String)> {
    let mut moved = Vec::new();
    for (legacy, canonical) in LEGACY_MOVES {
        let Some(value) = keys::remove(doc, legacy) else {
            continue;
        };
        let existing = keys::lookup_in(doc, canonical).cloned();
        match (existing, value) {
            (None, value) => {
                // insert cannot fail: the canonical parents are objects or absent, and
                // anything else is reported by the typed check below.
                if keys::insert(doc, canonical, value).is_ok() {
                    moved.push(((*canonical).to_owned(), (*legacy).to_owned()));
                    warnings.push(Warning::LegacyKey {
                        key: (*legacy).to_owned(),
                        canonical: (*canonical).to_owned(),
                    });
                }
            }
            (Some(Value::Object(_)), Value::Object(fields)) => {
                for (k, v) in fields {
                    let c = format!("{canonical}.{k}");
                    let l = format!("{legacy}.{k}");
                    if keys::lookup_in(doc, &c).is_some() {
                        warnings.push(Warning::IgnoredLegacyKey {
                            key: l,
                            canonical: c,
                        });
                    } else if keys::insert(doc, &c, v).is_ok() {
                        warnings.push(Warning::LegacyKey {
                            key: l.clone(),
                            canonical: c.clone(),
                        });
                        moved.push((c, l));
                    }
                }
            }
            (Some(_), _) => warnings.push(Warning::IgnoredLegacyKey {
                key: (*legacy).to_owned(),
                canonical: (*canonical).to_owned(),
            }),
        }
    }
    // Drop the legacy container when nothing is left in it.
    if let Some(Value::Object(agents)) = doc.get("agents")
        && matches!(agents.get("defaults"), Some(Value::Object(d)) if d.is_empty())
    {
        keys::remove(doc, "agents.defaults");
    }
    moved
}

/// Reports an error on a moved key under the name the user wrote.
fn legacy_name(key: String, moved: &[(String, String)]) -> String {
    moved
        .iter()
        .find_map(|(canonical, legacy)| keys::replace_prefix(&key, canonical, legacy))
        .unwrap_or(key)
}

/// A document that passed the typed check.
pub(crate) struct Checked {
    pub(crate) config: Config,
    /// (canonical, legacy) keys moved from the legacy layout.
    pub(crate) moved: Vec<(String, String)>,
    pub(crate) warnings: Vec<Warning>,
}

/// Type-checks a document alone (no environment), attributing errors to `origin`.
pub(crate) fn check_document(doc: &Map<String, Value>, origin: &Origin) -> Result<Checked> {
    let mut doc = doc.clone();
    let mut warnings = Vec::new();
    let moved = migrate_legacy(&mut doc, &mut warnings);
    let config: Config = de::from_value(&Value::Object(doc)).map_err(|e| {
        e.into_error(origin.clone())
            .map_key(|k| legacy_name(k, &moved))
    })?;
    Ok(Checked {
        config,
        moved,
        warnings,
    })
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

/// Warnings for a config file (and its directory) that others can read.
pub(crate) fn permission_warnings(config_file: &Path) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(mode) = mode_of(config_file)
        && mode & 0o077 != 0
    {
        out.push(Warning::LoosePermissions {
            path: config_file.to_owned(),
            mode,
            wanted: crate::file::FILE_MODE,
        });
    }
    if let Some(dir) = config_file.parent()
        && let Some(mode) = mode_of(dir)
        && mode & 0o077 != 0
    {
        out.push(Warning::LoosePermissions {
            path: dir.to_owned(),
            mode,
            wanted: crate::file::DIR_MODE,
        });
    }
    out
}

/// Overlays the environment on the document.
fn apply_env(
    doc: &mut Map<String, Value>,
    env: &Environment,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Applied>> {
    let mut applied = Vec::new();
    for binding in BINDINGS {
        let Some((var, raw)) = binding
            .candidates()
            .into_iter()
            .find_map(|n| env.get(&n).map(|v| (n, v.to_owned())))
        else {
            continue;
        };
        if var.starts_with(LEGACY_PREFIX) {
            warnings.push(Warning::LegacyVariable {
                var: var.clone(),
                instead: binding.name.to_owned(),
            });
        }
        let shown = if keys::is_secret_key(binding.key) {
            keys::MASK.to_owned()
        } else {
            raw.clone()
        };
        let origin = Origin::Env {
            var: var.clone(),
            value: shown.clone(),
        };
        let value =
            keys::interpret(&raw, keys::lookup(&DEFAULTS, binding.key)).map_err(|reason| {
                Error::Invalid {
                    origin: origin.clone(),
                    key: binding.key.to_owned(),
                    reason,
                }
            })?;
        keys::insert(doc, binding.key, value).map_err(|reason| Error::Invalid {
            origin,
            key: binding.key.to_owned(),
            reason,
        })?;
        applied.push(Applied {
            var,
            value: shown,
            key: binding.key.to_owned(),
        });
    }
    for (var, key) in FALLBACKS {
        let unset = match keys::lookup_in(doc, key) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if let (true, Some(raw)) = (unset, env.get(var)) {
            keys::insert(doc, key, Value::String(raw.to_owned())).map_err(|reason| {
                Error::Invalid {
                    origin: Origin::Env {
                        var: (*var).to_owned(),
                        value: keys::MASK.to_owned(),
                    },
                    key: (*key).to_owned(),
                    reason,
                }
            })?;
            applied.push(Applied {
                var: (*var).to_owned(),
                value: keys::MASK.to_owned(),
                key: (*key).to_owned(),
            });
        }
    }
    Ok(applied)
}

/// Names the variable an error comes from, or the file when no variable set that key.
fn attribute(err: Error, applied: &[Applied], file: &Path, moved: &[(String, String)]) -> Error {
    let Some(key) = err.key().map(str::to_owned) else {
        return err;
    };
    match applied.iter().find(|a| keys::is_under(&key, &a.key)) {
        Some(a) => err.with_origin(a.origin()),
        None => err
            .with_origin(Origin::File(file.to_owned()))
            .map_key(|k| legacy_name(k, moved)),
    }
}

/// Resolves one path-valued key in place: `~` expanded, relative paths taken under
/// `home`, an empty value replaced by `home/<default>` when there is a default.
fn resolve_path(
    value: &mut String,
    key: &str,
    default: Option<&str>,
    loc: &Locations,
) -> Result<Option<PathBuf>> {
    if value.is_empty() {
        return Ok(default.map(|d| {
            let p = loc.home.join(d);
            *value = p.display().to_string();
            p
        }));
    }
    let expanded = expand_tilde(value, loc.user_home.as_deref()).ok_or_else(|| Error::Invalid {
        origin: Origin::Direct,
        key: key.to_owned(),
        reason: "starts with ~ but HOME is not set".to_owned(),
    })?;
    let p = if expanded.is_relative() {
        loc.home.join(expanded)
    } else {
        expanded
    };
    *value = p.display().to_string();
    Ok(Some(p))
}

fn resolve_paths(config: &mut Config, loc: &Locations) -> Result<Paths> {
    let workspace = resolve_path(
        &mut config.paths.workspace,
        "paths.workspace",
        Some("workspace"),
        loc,
    )?;
    let work_repo = resolve_path(
        &mut config.paths.work_repo_path,
        "paths.workRepoPath",
        Some("work-repo"),
        loc,
    )?;
    let system_repo = resolve_path(
        &mut config.paths.system_repo_path,
        "paths.systemRepoPath",
        None,
        loc,
    )?;
    let models = resolve_path(
        &mut config.memory.embedding.cache_dir,
        "memory.embedding.cacheDir",
        Some("models"),
        loc,
    )?;
    let g = &mut config.gateway;
    resolve_path(&mut g.tls_cert, "gateway.tlsCert", None, loc)?;
    resolve_path(&mut g.tls_key, "gateway.tlsKey", None, loc)?;
    let k = &mut config.group;
    resolve_path(&mut k.kafka_tls_ca_file, "group.kafkaTlsCAFile", None, loc)?;
    resolve_path(
        &mut k.kafka_tls_cert_file,
        "group.kafkaTlsCertFile",
        None,
        loc,
    )?;
    resolve_path(
        &mut k.kafka_tls_key_file,
        "group.kafkaTlsKeyFile",
        None,
        loc,
    )?;
    // A bare program name is looked up on PATH; only a path is resolved.
    let whisper = &mut config.providers.local_whisper.binary_path;
    if whisper.contains('/') || whisper.starts_with('~') {
        resolve_path(whisper, "providers.localWhisper.binaryPath", None, loc)?;
    }
    let home = loc.home.clone();
    Ok(Paths {
        config_file: loc.config_file.clone(),
        timeline_db: home.join("timeline.db"),
        sessions_dir: home.join("sessions"),
        subagents_dir: home.join("subagents"),
        skills_dir: home.join("skills"),
        models_dir: models.unwrap_or_else(|| home.join("models")),
        workspace: workspace.unwrap_or_else(|| home.join("workspace")),
        work_repo: work_repo.unwrap_or_else(|| home.join("work-repo")),
        system_repo,
        home,
    })
}

impl Config {
    /// Loads the configuration of this process: [`Config::load_from`] with the process
    /// environment.
    pub fn load() -> Result<LoadedConfig> {
        Self::load_from(&Environment::from_process())
    }

    /// Loads the configuration: built-in defaults, overridden by the config file, overridden
    /// by environment variables (`KAFCLAW_*`, then legacy `MIKROBOT_*`). Fails on an unknown
    /// key, a value of the wrong type or a value [`Config::validate`] rejects, naming the key
    /// and where the value came from.
    pub fn load_from(env: &Environment) -> Result<LoadedConfig> {
        let loc = Locations::find(env)?;
        let file_origin = Origin::File(loc.config_file.clone());
        let mut warnings = Vec::new();
        let doc = match read_document(&loc.config_file)? {
            Some(doc) => {
                warnings.extend(permission_warnings(&loc.config_file));
                doc
            }
            None => Map::new(),
        };
        // The file alone first, so its errors are reported against it.
        let Checked {
            moved,
            warnings: legacy_warnings,
            ..
        } = check_document(&doc, &file_origin)?;
        warnings.extend(legacy_warnings);
        let mut merged = doc;
        migrate_legacy(&mut merged, &mut Vec::new());
        let applied = apply_env(&mut merged, env, &mut warnings)?;
        let mut config: Config = de::from_value(&Value::Object(merged)).map_err(|e| {
            attribute(
                e.into_error(file_origin.clone()),
                &applied,
                &loc.config_file,
                &moved,
            )
        })?;
        config.providers.fill_default_bases();
        let paths = resolve_paths(&mut config, &loc)
            .map_err(|e| attribute(e, &applied, &loc.config_file, &moved))?;
        config
            .validate()
            .map_err(|e| attribute(e, &applied, &loc.config_file, &moved))?;
        Ok(LoadedConfig {
            config,
            paths,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::HumanDuration;

    struct Fixture {
        _dir: tempfile::TempDir,
        user_home: PathBuf,
        kafclaw_home: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let user_home = dir.path().join("user");
            let kafclaw_home = dir.path().join("state");
            std::fs::create_dir_all(&user_home).unwrap();
            Self {
                _dir: dir,
                user_home,
                kafclaw_home,
            }
        }

        fn env(&self, vars: &[(&str, &str)]) -> Environment {
            let mut env: Environment = vars.iter().copied().collect();
            env.set("HOME", self.user_home.display().to_string());
            env.set("KAFCLAW_HOME", self.kafclaw_home.display().to_string());
            env
        }

        fn write(&self, json: &str) -> PathBuf {
            std::fs::create_dir_all(&self.kafclaw_home).unwrap();
            let path = self.kafclaw_home.join("config.json");
            std::fs::write(&path, json).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
                std::fs::set_permissions(
                    &self.kafclaw_home,
                    std::fs::Permissions::from_mode(0o700),
                )
                .unwrap();
            }
            path
        }

        fn load(&self, vars: &[(&str, &str)]) -> Result<LoadedConfig> {
            Config::load_from(&self.env(vars))
        }
    }

    #[test]
    fn defaults_without_file_or_variables() {
        let fx = Fixture::new();
        let loaded = fx.load(&[]).unwrap();
        let c = &loaded.config;
        assert_eq!(c.gateway.host, "127.0.0.1");
        assert_eq!(c.gateway.port, 18790);
        assert_eq!(c.gateway.dashboard_port, 18791);
        assert_eq!(c.model.max_tool_iterations, 20);
        assert_eq!(c.model.name, "anthropic/claude-sonnet-4-5");
        assert_eq!(c.group.poll_interval_ms, 2000);
        assert_eq!(c.group.max_delegation_depth, 3);
        assert_eq!(c.tools.exec.timeout, HumanDuration::from_secs(60));
        assert_eq!(c.providers.openai.api_base, "https://api.openai.com/v1");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let p = &loaded.paths;
        assert_eq!(p.home, fx.kafclaw_home);
        assert_eq!(p.config_file, fx.kafclaw_home.join("config.json"));
        assert_eq!(p.timeline_db, fx.kafclaw_home.join("timeline.db"));
        assert_eq!(p.sessions_dir, fx.kafclaw_home.join("sessions"));
        assert_eq!(p.workspace, fx.kafclaw_home.join("workspace"));
        assert_eq!(p.work_repo, fx.kafclaw_home.join("work-repo"));
        assert_eq!(p.models_dir, fx.kafclaw_home.join("models"));
        assert_eq!(p.system_repo, None);
        assert_eq!(c.paths.workspace, p.workspace.display().to_string());
    }

    #[test]
    fn home_defaults_to_dot_kafclaw() {
        let fx = Fixture::new();
        let env: Environment = [("HOME", fx.user_home.display().to_string())]
            .into_iter()
            .collect();
        let loaded = Config::load_from(&env).unwrap();
        assert_eq!(loaded.paths.home, fx.user_home.join(".kafclaw"));
        assert_eq!(
            loaded.paths.timeline_db,
            fx.user_home.join(".kafclaw/timeline.db")
        );
        assert!(matches!(
            Config::load_from(&Environment::empty()),
            Err(Error::NoHomeDirectory)
        ));
    }

    #[test]
    fn environment_beats_file_beats_defaults() {
        let fx = Fixture::new();
        fx.write(
            r#"{"gateway": {"host": "10.0.0.1", "port": 19000}, "group": {"groupName": "g1"}}"#,
        );
        let loaded = fx
            .load(&[
                ("KAFCLAW_GATEWAY_PORT", "19500"),
                ("KAFCLAW_GROUP_ENABLED", "true"),
            ])
            .unwrap();
        let c = loaded.config;
        assert_eq!(c.gateway.port, 19500, "env wins over file");
        assert_eq!(c.gateway.host, "10.0.0.1", "file wins over default");
        assert_eq!(
            c.gateway.dashboard_port, 18791,
            "default when neither sets it"
        );
        assert_eq!(c.group.group_name, "g1");
        assert!(c.group.enabled);
    }

    #[test]
    fn legacy_variables_are_read_and_kafclaw_wins() {
        let fx = Fixture::new();
        let loaded = fx
            .load(&[
                ("MIKROBOT_GROUP_ENABLED", "true"),
                ("MIKROBOT_KAFKA_BROKERS", "old:9092"),
                ("MIKROBOT_ORCHESTRATOR_ROLE", "observer"),
                ("KAFCLAW_ORCHESTRATOR_ROLE", "orchestrator"),
            ])
            .unwrap();
        let c = &loaded.config;
        assert!(c.group.enabled);
        assert_eq!(c.group.kafka_brokers, "old:9092");
        assert_eq!(c.orchestrator.role, "orchestrator");
        assert!(loaded.warnings.contains(&Warning::LegacyVariable {
            var: "MIKROBOT_KAFKA_BROKERS".into(),
            instead: "KAFCLAW_GROUP_KAFKA_BROKERS".into(),
        }));
        let loaded = fx
            .load(&[
                ("MIKROBOT_KAFKA_BROKERS", "old:9092"),
                ("KAFCLAW_GROUP_KAFKA_BROKERS", "new:9092"),
            ])
            .unwrap();
        assert_eq!(loaded.config.group.kafka_brokers, "new:9092");
    }

    #[test]
    fn seed_names_win_over_go_names() {
        let fx = Fixture::new();
        let c = fx
            .load(&[
                ("KAFCLAW_PATHS_WORKSPACE", "/ws-go"),
                ("KAFCLAW_MODEL_MODEL", "x/y"),
            ])
            .unwrap()
            .config;
        assert_eq!(c.paths.workspace, "/ws-go");
        assert_eq!(c.model.name, "x/y");
        let c = fx
            .load(&[
                ("KAFCLAW_PATHS_WORKSPACE", "/ws-go"),
                ("KAFCLAW_AGENTS_WORKSPACE", "/ws-seed"),
                ("KAFCLAW_AGENTS_MAX_TOOL_ITERATIONS", "7"),
            ])
            .unwrap()
            .config;
        assert_eq!(c.paths.workspace, "/ws-seed");
        assert_eq!(c.model.max_tool_iterations, 7);
    }

    #[test]
    fn variable_types_lists_and_durations() {
        let fx = Fixture::new();
        let c = fx
            .load(&[
                ("KAFCLAW_GROUP_SKILLS", "review, triage"),
                ("KAFCLAW_SCHEDULER_TICK_INTERVAL", "90s"),
                ("KAFCLAW_AGENTS_TEMPERATURE", "0.2"),
                ("KAFCLAW_TOOLS_EXEC_RESTRICT_WORKSPACE", "false"),
            ])
            .unwrap()
            .config;
        assert_eq!(c.group.skills, ["review", "triage"]);
        assert_eq!(c.scheduler.tick_interval, HumanDuration::from_secs(90));
        assert_eq!(c.model.temperature, 0.2);
        assert!(!c.tools.exec.restrict_to_workspace);
    }

    #[test]
    fn paths_expand_tilde_and_resolve_under_home() {
        let fx = Fixture::new();
        fx.write(r#"{"paths": {"workspace": "~/ws", "workRepoPath": "repo"}}"#);
        let loaded = fx.load(&[]).unwrap();
        assert_eq!(loaded.paths.workspace, fx.user_home.join("ws"));
        assert_eq!(loaded.paths.work_repo, fx.kafclaw_home.join("repo"));
        let fx2 = Fixture::new();
        let env: Environment = [
            ("HOME", fx2.user_home.display().to_string()),
            ("KAFCLAW_HOME", "~/elsewhere".to_owned()),
        ]
        .into_iter()
        .collect();
        let loaded = Config::load_from(&env).unwrap();
        assert_eq!(loaded.paths.home, fx2.user_home.join("elsewhere"));
    }

    #[test]
    fn config_path_can_be_moved() {
        let fx = Fixture::new();
        let other = fx.user_home.join("custom.json");
        std::fs::write(&other, r#"{"gateway": {"port": 20000}}"#).unwrap();
        let loaded = fx
            .load(&[("KAFCLAW_CONFIG", &other.display().to_string())])
            .unwrap();
        assert_eq!(loaded.config.gateway.port, 20000);
        assert_eq!(loaded.paths.config_file, other);
        assert_eq!(
            loaded.paths.timeline_db,
            fx.kafclaw_home.join("timeline.db")
        );
    }

    #[test]
    fn unknown_key_in_file_is_named() {
        let fx = Fixture::new();
        let path = fx.write(r#"{"group": {"kafkaBrokerz": "x"}}"#);
        let err = fx.load(&[]).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownKey { origin: Origin::File(p), key } if *p == path && key == "group.kafkaBrokerz")
        );
        assert_eq!(
            err.to_string(),
            format!("{}: unknown key \"group.kafkaBrokerz\"", path.display())
        );
        fx.write(r#"{"nonsense": 1}"#);
        assert_eq!(fx.load(&[]).unwrap_err().key(), Some("nonsense"));
    }

    #[test]
    fn wrong_type_in_file_is_named() {
        let fx = Fixture::new();
        let path = fx.write(r#"{"group": {"heartbeatIntervalSecs": "fast"}}"#);
        let err = fx.load(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: group.heartbeatIntervalSecs: expected an integer, got \"fast\"",
                path.display()
            )
        );
    }

    #[test]
    fn out_of_range_tier_is_named() {
        let fx = Fixture::new();
        fx.write(r#"{"policy": {"peer": {"maxTier": 3}}}"#);
        let err = fx.load(&[]).unwrap_err();
        assert_eq!(err.key(), Some("policy.peer.maxTier"));
        assert!(err.to_string().contains("0, 1 or 2"), "{err}");
        fx.write(r#"{"policy": {"peer": {"maxTier": 1, "colour": 1}}}"#);
        assert_eq!(fx.load(&[]).unwrap_err().key(), Some("policy.peer.colour"));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let fx = Fixture::new();
        fx.write("{\n  \"gateway\": {\"port\": 1,}\n}");
        match fx.load(&[]).unwrap_err() {
            Error::Syntax { line, .. } => assert_eq!(line, 2),
            other => panic!("unexpected {other:?}"),
        }
        fx.write("[1, 2]");
        assert!(matches!(fx.load(&[]), Err(Error::Syntax { .. })));
    }

    #[test]
    fn bad_variable_names_variable_and_key() {
        let fx = Fixture::new();
        let err = fx.load(&[("KAFCLAW_GATEWAY_PORT", "abc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFCLAW_GATEWAY_PORT=abc: gateway.port: expected a port number, got \"abc\""
        );
        let err = fx.load(&[("KAFCLAW_GROUP_ENABLED", "maybe")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFCLAW_GROUP_ENABLED=maybe: group.enabled: expected true or false, got \"maybe\""
        );
        // A semantic rule is attributed to the variable that broke it.
        let err = fx
            .load(&[("MIKROBOT_GROUP_ONBOARD_MODE", "closed")])
            .unwrap_err();
        assert!(
            matches!(err.origin(), Some(Origin::Env { var, .. }) if var == "MIKROBOT_GROUP_ONBOARD_MODE")
        );
        assert_eq!(err.key(), Some("group.onboardMode"));
    }

    #[test]
    fn invalid_value_in_file_is_attributed_to_the_file() {
        let fx = Fixture::new();
        let path = fx.write(r#"{"orchestrator": {"role": "boss"}}"#);
        let err = fx.load(&[]).unwrap_err();
        assert_eq!(err.origin(), Some(&Origin::File(path)));
        assert_eq!(err.key(), Some("orchestrator.role"));
        // ... unless the environment fixes it.
        let c = fx
            .load(&[("KAFCLAW_ORCHESTRATOR_ROLE", "worker")])
            .unwrap()
            .config;
        assert_eq!(c.orchestrator.role, "worker");
    }

    #[test]
    fn legacy_file_keys_move_and_errors_use_their_names() {
        let fx = Fixture::new();
        fx.write(
            r#"{"agents": {"defaults": {"maxToolIterations": 12, "workspace": "/ws",
                "subagents": {"maxSpawnDepth": 2}}}}"#,
        );
        let loaded = fx.load(&[]).unwrap();
        assert_eq!(loaded.config.model.max_tool_iterations, 12);
        assert_eq!(loaded.config.paths.workspace, "/ws");
        assert_eq!(loaded.config.tools.subagents.max_spawn_depth, 2);
        assert!(loaded.warnings.contains(&Warning::LegacyKey {
            key: "agents.defaults.maxToolIterations".into(),
            canonical: "model.maxToolIterations".into(),
        }));
        fx.write(r#"{"agents": {"defaults": {"maxTokens": "lots"}}}"#);
        assert_eq!(
            fx.load(&[]).unwrap_err().key(),
            Some("agents.defaults.maxTokens")
        );
        fx.write(r#"{"agents": {"defaults": {"colour": "red"}}}"#);
        assert_eq!(
            fx.load(&[]).unwrap_err().key(),
            Some("agents.defaults.colour")
        );
        fx.write(r#"{"model": {"maxToolIterations": 5}, "agents": {"defaults": {"maxToolIterations": 9}}}"#);
        let loaded = fx.load(&[]).unwrap();
        assert_eq!(loaded.config.model.max_tool_iterations, 5);
        assert!(matches!(
            loaded.warnings[..],
            [Warning::IgnoredLegacyKey { .. }]
        ));
    }

    #[test]
    fn go_file_layout_loads() {
        let fx = Fixture::new();
        fx.write(
            r#"{"providers": {"claude": {"apiKey": "sk-ant"}, "scalytics-copilot": {"apiBase": "http://c"}},
                "scheduler": {"tickInterval": 30000000000, "maxConcLLM": 2},
                "group": {"kafkaTlsCAFile": "/ca.pem", "onboardMode": ""},
                "policy": {"peer": {"approvalTiers": [1]}}}"#,
        );
        let c = fx.load(&[]).unwrap().config;
        assert_eq!(c.providers.anthropic.api_key.expose(), "sk-ant");
        assert_eq!(
            c.providers.anthropic.api_base,
            "https://api.anthropic.com/v1"
        );
        assert_eq!(c.providers.scalytics_copilot.api_base, "http://c");
        assert_eq!(c.scheduler.tick_interval, HumanDuration::from_secs(30));
        assert_eq!(c.scheduler.max_conc_llm, 2);
        assert_eq!(c.group.kafka_tls_ca_file, "/ca.pem");
        // A class keeps its own defaults for the keys the file leaves out.
        assert_eq!(c.policy.peer.max_tier, crate::ToolTier::Write);
        assert!(c.policy.peer.rate_limited);
        assert_eq!(c.policy.peer.approval_tiers, [crate::ToolTier::Write]);
        assert_eq!(c.policy.owner.max_tier, crate::ToolTier::HighRisk);
        assert_eq!(
            c.policy.to_engine_config().peer.approval_tiers,
            [crate::ToolTier::Write].into_iter().collect()
        );
    }

    #[test]
    fn provider_variables_fall_back_only_when_empty() {
        let fx = Fixture::new();
        let c = fx.load(&[("OPENAI_API_KEY", "sk-env")]).unwrap().config;
        assert_eq!(c.providers.openai.api_key.expose(), "sk-env");
        fx.write(r#"{"providers": {"openai": {"apiKey": "sk-file"}}}"#);
        let c = fx.load(&[("OPENAI_API_KEY", "sk-env")]).unwrap().config;
        assert_eq!(c.providers.openai.api_key.expose(), "sk-file");
        let c = fx
            .load(&[
                ("OPENAI_API_KEY", "sk-env"),
                ("KAFCLAW_OPENAI_API_KEY", "sk-kc"),
            ])
            .unwrap()
            .config;
        assert_eq!(c.providers.openai.api_key.expose(), "sk-kc");
    }

    #[cfg(unix)]
    #[test]
    fn ensure_home_creates_a_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let fx = Fixture::new();
        let paths = fx.load(&[]).unwrap().paths;
        assert!(!paths.home.exists());
        paths.ensure_home().unwrap();
        let mode = std::fs::metadata(&paths.home).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        paths.ensure_home().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_reported() {
        use std::os::unix::fs::PermissionsExt;
        let fx = Fixture::new();
        let path = fx.write("{}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = fx.load(&[]).unwrap();
        assert_eq!(
            loaded.warnings,
            [Warning::LoosePermissions {
                path,
                mode: 0o644,
                wanted: 0o600
            }]
        );
    }
}
