//! Configuration of the built-in tools (deserialized from the `tools` section of the
//! agent config; camelCase keys like the rest of the KafClaw config).

use std::path::PathBuf;

use serde::Deserialize;

/// The programs `exec` may run when no allow-list is configured (the seeds' list).
pub const DEFAULT_ALLOWED_PROGRAMS: &[&str] = &[
    "git", "ls", "cat", "pwd", "rg", "grep", "sed", "head", "tail", "wc", "echo",
];

/// Everything [`crate::Registry::with_builtin_tools`] needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolsConfig {
    /// Directories the filesystem tools and `exec` are confined to. The first one is
    /// the default for relative paths. Conventional names: `work_repo`, `workspace`.
    pub roots: Vec<RootConfig>,
    /// Filesystem tool limits.
    #[serde(default)]
    pub fs: FsConfig,
    /// `exec` settings.
    #[serde(default)]
    pub exec: ExecConfig,
    /// `web_fetch` settings.
    #[serde(default)]
    pub web_fetch: WebFetchConfig,
}

impl ToolsConfig {
    /// Config with the work repo as default root and the workspace as second root,
    /// everything else at defaults.
    pub fn new(work_repo: impl Into<PathBuf>, workspace: impl Into<PathBuf>) -> Self {
        Self {
            roots: vec![
                RootConfig::new("work_repo", work_repo),
                RootConfig::new("workspace", workspace),
            ],
            fs: FsConfig::default(),
            exec: ExecConfig::default(),
            web_fetch: WebFetchConfig::default(),
        }
    }

    /// Config with a single root.
    pub fn single_root(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            roots: vec![RootConfig::new(name, path)],
            fs: FsConfig::default(),
            exec: ExecConfig::default(),
            web_fetch: WebFetchConfig::default(),
        }
    }
}

/// One confinement root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RootConfig {
    /// Short name shown in messages (`work_repo`, `workspace`).
    pub name: String,
    /// An existing directory.
    pub path: PathBuf,
}

impl RootConfig {
    /// A root.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
        }
    }
}

/// Limits of the filesystem tools.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FsConfig {
    /// Largest slice `read_file` returns in one call (bytes).
    pub max_read_bytes: u64,
    /// Largest file `write_file`/`edit_file` writes (bytes).
    pub max_write_bytes: u64,
    /// Most entries `list_dir` returns.
    pub max_list_entries: usize,
}

impl Default for FsConfig {
    fn default() -> Self {
        Self {
            max_read_bytes: 256 * 1024,
            max_write_bytes: 1024 * 1024,
            max_list_entries: 1000,
        }
    }
}

/// Settings of `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExecConfig {
    /// Register the tool at all.
    pub enabled: bool,
    /// Bare program names that may run. Adding an interpreter (`sh`, `python`, `env`)
    /// hands the model a shell and defeats every argument check.
    pub allowed_programs: Vec<String>,
    /// Wall-clock limit per command, seconds.
    pub timeout_secs: u64,
    /// Cap per output stream (stdout, stderr), bytes.
    pub max_output_bytes: usize,
    /// Directories searched for allowed programs; also the child's `PATH`.
    pub path_dirs: Vec<PathBuf>,
    /// Operator deny patterns (regular expressions, matched case-insensitively against
    /// the whole command line), applied on top of the built-in ones.
    pub deny_patterns: Vec<String>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_programs: DEFAULT_ALLOWED_PROGRAMS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            timeout_secs: 60,
            max_output_bytes: 64 * 1024,
            path_dirs: vec![
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/usr/bin"),
                PathBuf::from("/bin"),
            ],
            deny_patterns: Vec::new(),
        }
    }
}

/// Settings of `web_fetch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WebFetchConfig {
    /// Register the tool at all.
    pub enabled: bool,
    /// Host names whose addresses are not checked: exact names or `*.example.com`
    /// (subdomains only). For internal services the operator trusts.
    pub allow_hosts: Vec<String>,
    /// Address ranges allowed even though private/loopback, e.g. `10.1.0.0/16`, `127.0.0.1/32`.
    pub allow_cidrs: Vec<String>,
    /// Largest body returned (bytes); the rest is cut with a marker.
    pub max_bytes: usize,
    /// Limit for the whole fetch including redirects, seconds.
    pub timeout_secs: u64,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// User-Agent header.
    pub user_agent: String,
}

impl Default for WebFetchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_hosts: Vec::new(),
            allow_cidrs: Vec::new(),
            max_bytes: 512 * 1024,
            timeout_secs: 30,
            max_redirects: 5,
            user_agent: "kafclaw-web-fetch/0".to_owned(),
        }
    }
}
