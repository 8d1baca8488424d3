//! kafclaw-config: the configuration of a KafClaw agent. It defines the typed config tree
//! (JSON keys as in the Go KafClaw `config.json`) with its defaults, loads it with the
//! precedence environment (`KAFCLAW_*`, then legacy `MIKROBOT_*`) over `config.json` over
//! defaults, resolves every state path under `KAFCLAW_HOME` (default `~/.kafclaw`), rejects
//! unknown keys and wrong types naming the dotted key and where the value came from, and
//! edits `config.json` one key at a time with owner-only permissions.
//!
//! It is not a settings store for values changed at run time (those live in the timeline's
//! `settings` table), it starts nothing and connects to nothing, and library code never
//! reads the process environment except through [`Environment::from_process`] (used by
//! [`Config::load`]), so tests pass their own [`Environment`].
//!
//! Entry points: [`Config::load`] / [`Config::load_from`] return a [`LoadedConfig`]
//! (config, resolved [`Paths`], [`Warning`]s); [`ConfigFile`] edits the file.
//!
//! ```
//! use kafclaw_config::{Config, Environment};
//!
//! let dir = tempfile::tempdir()?;
//! let env: Environment = [
//!     ("KAFCLAW_HOME", dir.path().display().to_string()),
//!     ("KAFCLAW_GATEWAY_PORT", "19000".to_owned()),
//! ]
//! .into_iter()
//! .collect();
//! let loaded = Config::load_from(&env)?;
//! assert_eq!(loaded.config.gateway.port, 19000);
//! assert_eq!(loaded.paths.timeline_db, dir.path().join("timeline.db"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod de;
mod env;
mod error;
mod file;
mod keys;
mod load;
mod model;
mod reference;
mod types;
mod validate;

pub use env::{EnvBinding, Environment, env_bindings};
pub use error::{Error, Origin, Result};
pub use file::{ConfigFile, DIR_MODE, FILE_MODE};
pub use keys::{MASK, canonical_key, lookup_key, mask_secrets};
pub use load::{LoadedConfig, Paths, Warning, config_file_path};
pub use model::{
    AgentCascade, AgentDefaults, AgentEntry, AgentModel, AgentSubagents, AgentsConfig,
    ChannelsConfig, ClassLimits, CommandSkill, Config, ContentClassificationConfig, DiscordConfig,
    EmbeddingConfig, Er1Config, ExecToolConfig, FeishuConfig, FinOpsConfig, GatewayConfig,
    GroupConfig, GuardCategory, KafgraphConfig, KnowledgeConfig, KnowledgePublish, KnowledgeTopics,
    KnowledgeVoting, LocalWhisperConfig, MemoryConfig, MemorySearchConfig, ModelConfig,
    NamedPattern, NodeConfig, ObserverConfig, OnboardMode, OrchestratorConfig, OrchestratorRole,
    OutputSanitizationConfig, PathsConfig, PolicyConfig, Pricing, PromptGuardConfig,
    ProviderConfig, ProvidersConfig, RateLimitConfig, SaslMechanism, SchedulerConfig,
    SecurityProtocol, SensitivityLevel, SkillEntry, SkillLinkPolicy, SkillsConfig, SlackAccount,
    SlackConfig, SubagentToolPolicy, SubagentsConfig, TeamsAccount, TeamsConfig, TelegramConfig,
    ToolsConfig, WebFetchConfig, WebSearchConfig, WebToolConfig, WhatsAppConfig, ZoneConfig,
};
pub use reference::reference_markdown;
pub use types::{HumanDuration, Secret};

/// Tool tiers and trust classes, as used in [`PolicyConfig`].
pub use kafclaw_policy::{ToolTier, TrustClass};

impl Config {
    /// The configuration as a JSON tree (credentials included; see [`mask_secrets`]).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The effective value at a dotted key (aliases and legacy names accepted), or `None`
    /// when there is no such key.
    pub fn get_json(&self, key: &str) -> Option<serde_json::Value> {
        lookup_key(&self.to_json(), key).cloned()
    }
}
