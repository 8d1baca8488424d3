//! The typed configuration tree. JSON key names follow the Go KafClaw `config.json`
//! (camelCase); every struct rejects keys it does not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use kafclaw_policy::{ToolTier, TrustClass};

use crate::types::{HumanDuration, Secret, port};

/// The whole configuration of one KafClaw agent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Filesystem locations (workspace, work repository, system repository).
    pub paths: PathsConfig,
    /// The default LLM and the agent loop limits.
    pub model: ModelConfig,
    /// Named agent identities, each with its own model.
    pub agents: AgentsConfig,
    /// Chat channels (WhatsApp, Slack, Teams, Telegram, Discord, Feishu).
    pub channels: ChannelsConfig,
    /// LLM provider credentials and endpoints.
    pub providers: ProvidersConfig,
    /// The HTTP API and dashboard listeners.
    pub gateway: GatewayConfig,
    /// Tool settings: shell, web, subagents.
    pub tools: ToolsConfig,
    /// Kafka group collaboration.
    pub group: GroupConfig,
    /// Hierarchy and zones on top of a group.
    pub orchestrator: OrchestratorConfig,
    /// The scheduler loop.
    pub scheduler: SchedulerConfig,
    /// The ER1 personal memory service.
    pub er1: Er1Config,
    /// Observational memory (LLM compression of conversations).
    pub observer: ObserverConfig,
    /// Middleware: sensitivity and task-type classification.
    pub content_classification: ContentClassificationConfig,
    /// Middleware: PII and secret scanning of prompts.
    pub prompt_guard: PromptGuardConfig,
    /// Middleware: redaction and filtering of answers.
    pub output_sanitization: OutputSanitizationConfig,
    /// Cost attribution and budgets.
    pub finops: FinOpsConfig,
    /// Tool tier limits per sender trust class, rate limits and the token quota.
    pub policy: PolicyConfig,
    /// Embeddings and memory search.
    pub memory: MemoryConfig,
    /// The skill catalog (installable skills).
    pub skills: SkillsConfig,
    /// Knowledge governance (proposals, votes, facts).
    pub knowledge: KnowledgeConfig,
    /// This node's identity for knowledge governance.
    pub node: NodeConfig,
    /// KafGraph synchronisation.
    pub kafgraph: KafgraphConfig,
}

// ---------------------------------------------------------------------------------------------
// paths, model, agents

/// Filesystem locations. Empty values take their defaults under `KAFCLAW_HOME`; `~` expands
/// to the user's home and a relative path is taken relative to `KAFCLAW_HOME`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PathsConfig {
    /// Soul files and agent state (default `$KAFCLAW_HOME/workspace`).
    pub workspace: String,
    /// Root for filesystem writes (default `$KAFCLAW_HOME/work-repo`).
    pub work_repo_path: String,
    /// System/identity repository with skills (default: none).
    pub system_repo_path: String,
}

/// The default model and the limits of the agent loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelConfig {
    /// `provider/model`, e.g. `anthropic/claude-sonnet-4-5`.
    pub name: String,
    /// Maximum tokens of one LLM answer.
    pub max_tokens: u32,
    /// Sampling temperature (0 to 2).
    pub temperature: f64,
    /// Maximum LLM rounds (tool-call iterations) for one message.
    pub max_tool_iterations: u32,
    /// Task category (`security`, `coding`, `tool-heavy`, `creative`) to model string.
    pub task_routing: BTreeMap<String, String>,
    /// Models tried in order when the primary model fails.
    pub fallbacks: Vec<String>,
    /// Time limit of one model request (for a streamed answer: the longest silence).
    pub request_timeout: HumanDuration,
    /// Attempts per model (1 = no retry) for rate limits, server errors and lost connections.
    pub max_attempts: u32,
    /// The longest `Retry-After` wait honoured; a longer one moves on to the next model.
    pub max_retry_wait: HumanDuration,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            name: "anthropic/claude-sonnet-4-5".to_owned(),
            max_tokens: 8192,
            temperature: 0.7,
            max_tool_iterations: 20,
            task_routing: BTreeMap::new(),
            fallbacks: Vec::new(),
            request_timeout: HumanDuration::from_secs(120),
            max_attempts: 3,
            max_retry_wait: HumanDuration::from_secs(60),
        }
    }
}

/// Named agent identities.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentsConfig {
    /// Legacy block: its keys are read into `paths`, `model` and `tools.subagents` when loading.
    #[serde(skip_serializing)]
    pub defaults: AgentDefaults,
    /// Agent identities this process can act as.
    pub list: Vec<AgentEntry>,
}

/// What remains of the legacy `agents.defaults` block after its keys moved to their
/// canonical places (see the crate docs); anything left here is an unknown key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentDefaults {}

/// One agent identity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentEntry {
    /// Agent id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether this is the default identity.
    pub default: bool,
    /// Model override for this agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<AgentModel>,
    /// Subagent settings for this agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subagents: Option<AgentSubagents>,
    /// Cascade protocol switch (accepted for compatibility).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cascade: Option<AgentCascade>,
}

/// Model choice of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentModel {
    /// `provider/model`.
    pub primary: String,
    /// Fallback models, in order.
    pub fallbacks: Vec<String>,
}

/// Subagent settings of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentSubagents {
    /// Model for subagents this agent spawns.
    pub model: String,
}

/// Cascade switch of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentCascade {
    /// Whether the cascade protocol is on.
    pub enabled: bool,
}

// ---------------------------------------------------------------------------------------------
// channels

/// All chat channels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ChannelsConfig {
    /// Telegram.
    pub telegram: TelegramConfig,
    /// Discord.
    pub discord: DiscordConfig,
    /// WhatsApp.
    pub whatsapp: WhatsAppConfig,
    /// Feishu.
    pub feishu: FeishuConfig,
    /// Slack (through the channel bridge).
    pub slack: SlackConfig,
    /// Microsoft Teams (through the channel bridge).
    pub msteams: TeamsConfig,
}

/// Telegram channel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TelegramConfig {
    /// Whether the channel is active.
    pub enabled: bool,
    /// Bot token.
    pub token: Secret,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
    /// HTTP proxy URL.
    pub proxy: String,
}

/// Discord channel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordConfig {
    /// Whether the channel is active.
    pub enabled: bool,
    /// Bot token.
    pub token: Secret,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
}

/// WhatsApp channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WhatsAppConfig {
    /// Whether the channel is active.
    pub enabled: bool,
    /// Bridge URL.
    pub bridge_url: String,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
    /// Silently drop messages from unknown senders.
    pub drop_unauthorized: bool,
    /// Ignore reaction messages.
    pub ignore_reactions: bool,
    /// Session isolation: channel, account, room, thread or user.
    pub session_scope: String,
}

impl Default for WhatsAppConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bridge_url: String::new(),
            allow_from: Vec::new(),
            drop_unauthorized: false,
            ignore_reactions: false,
            session_scope: "room".to_owned(),
        }
    }
}

/// Feishu channel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FeishuConfig {
    /// Whether the channel is active.
    pub enabled: bool,
    /// App id.
    pub app_id: String,
    /// App secret.
    pub app_secret: Secret,
    /// Event encryption key.
    pub encrypt_key: Secret,
    /// Event verification token.
    pub verification_token: Secret,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
}

/// Slack channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackConfig {
    /// Whether the channel is active.
    pub enabled: bool,
    /// Bot token.
    pub bot_token: Secret,
    /// App-level token.
    pub app_token: Secret,
    /// Shared secret for bridge to gateway calls.
    pub inbound_token: Secret,
    /// Gateway to bridge endpoint.
    pub outbound_url: String,
    /// Stream answers with Slack's native streaming API.
    pub native_streaming: bool,
    /// How streamed chunks are shown.
    pub stream_mode: String,
    /// Characters per streamed chunk.
    pub stream_chunk_chars: u32,
    /// Session isolation: channel, account, room, thread or user.
    pub session_scope: String,
    /// Per-account credentials and routing.
    pub accounts: Vec<SlackAccount>,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
    /// Group target allow-list.
    pub group_allow_from: Vec<String>,
    /// Direct messages: pairing, allowlist, open or disabled.
    pub dm_policy: String,
    /// Group contexts: pairing, allowlist, open or disabled.
    pub group_policy: String,
    /// Group messages need a bot mention.
    pub require_mention: bool,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: Secret::default(),
            app_token: Secret::default(),
            inbound_token: Secret::default(),
            outbound_url: String::new(),
            native_streaming: true,
            stream_mode: "replace".to_owned(),
            stream_chunk_chars: 320,
            session_scope: "room".to_owned(),
            accounts: Vec::new(),
            allow_from: Vec::new(),
            group_allow_from: Vec::new(),
            dm_policy: "pairing".to_owned(),
            group_policy: "allowlist".to_owned(),
            require_mention: true,
        }
    }
}

/// One Slack account; empty strings inherit the channel's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackAccount {
    /// Account id.
    pub id: String,
    /// Whether the account is active.
    pub enabled: bool,
    /// Bot token.
    pub bot_token: Secret,
    /// App-level token.
    pub app_token: Secret,
    /// Shared secret for bridge to gateway calls.
    pub inbound_token: Secret,
    /// Gateway to bridge endpoint.
    pub outbound_url: String,
    /// Native streaming override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_streaming: Option<bool>,
    /// Stream mode override.
    pub stream_mode: String,
    /// Chunk size override (0 inherits).
    pub stream_chunk_chars: u32,
    /// Session scope override.
    pub session_scope: String,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
    /// Group target allow-list.
    pub group_allow_from: Vec<String>,
    /// Direct-message policy override.
    pub dm_policy: String,
    /// Group policy override.
    pub group_policy: String,
    /// Group messages need a bot mention.
    pub require_mention: bool,
}

impl Default for SlackAccount {
    fn default() -> Self {
        Self {
            id: String::new(),
            enabled: true,
            bot_token: Secret::default(),
            app_token: Secret::default(),
            inbound_token: Secret::default(),
            outbound_url: String::new(),
            native_streaming: None,
            stream_mode: String::new(),
            stream_chunk_chars: 0,
            session_scope: String::new(),
            allow_from: Vec::new(),
            group_allow_from: Vec::new(),
            dm_policy: String::new(),
            group_policy: String::new(),
            require_mention: true,
        }
    }
}

/// Microsoft Teams channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamsConfig {
    /// Whether the channel is active.
    pub enabled: bool,
    /// Bot app id.
    pub app_id: String,
    /// Bot app password.
    pub app_password: Secret,
    /// Tenant id.
    pub tenant_id: String,
    /// Shared secret for bridge to gateway calls.
    pub inbound_token: Secret,
    /// Gateway to bridge endpoint.
    pub outbound_url: String,
    /// Session isolation: channel, account, room, thread or user.
    pub session_scope: String,
    /// Per-account credentials and routing.
    pub accounts: Vec<TeamsAccount>,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
    /// Group target allow-list.
    pub group_allow_from: Vec<String>,
    /// Direct messages: pairing, allowlist, open or disabled.
    pub dm_policy: String,
    /// Group contexts: pairing, allowlist, open or disabled.
    pub group_policy: String,
    /// Group messages need a bot mention.
    pub require_mention: bool,
}

impl Default for TeamsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            app_id: String::new(),
            app_password: Secret::default(),
            tenant_id: String::new(),
            inbound_token: Secret::default(),
            outbound_url: String::new(),
            session_scope: "room".to_owned(),
            accounts: Vec::new(),
            allow_from: Vec::new(),
            group_allow_from: Vec::new(),
            dm_policy: "pairing".to_owned(),
            group_policy: "allowlist".to_owned(),
            require_mention: true,
        }
    }
}

/// One Teams account; empty strings inherit the channel's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamsAccount {
    /// Account id.
    pub id: String,
    /// Whether the account is active.
    pub enabled: bool,
    /// Bot app id.
    pub app_id: String,
    /// Bot app password.
    pub app_password: Secret,
    /// Tenant id.
    pub tenant_id: String,
    /// Shared secret for bridge to gateway calls.
    pub inbound_token: Secret,
    /// Gateway to bridge endpoint.
    pub outbound_url: String,
    /// Session scope override.
    pub session_scope: String,
    /// Sender allow-list.
    pub allow_from: Vec<String>,
    /// Group target allow-list.
    pub group_allow_from: Vec<String>,
    /// Direct-message policy override.
    pub dm_policy: String,
    /// Group policy override.
    pub group_policy: String,
    /// Group messages need a bot mention.
    pub require_mention: bool,
}

impl Default for TeamsAccount {
    fn default() -> Self {
        Self {
            id: String::new(),
            enabled: true,
            app_id: String::new(),
            app_password: Secret::default(),
            tenant_id: String::new(),
            inbound_token: Secret::default(),
            outbound_url: String::new(),
            session_scope: String::new(),
            allow_from: Vec::new(),
            group_allow_from: Vec::new(),
            dm_policy: String::new(),
            group_policy: String::new(),
            require_mention: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// providers

/// LLM providers. An empty `apiBase` means the provider's public endpoint (filled in at load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvidersConfig {
    /// Anthropic (provider id `claude`).
    #[serde(alias = "claude")]
    pub anthropic: ProviderConfig,
    /// OpenAI.
    pub openai: ProviderConfig,
    /// OpenRouter.
    pub openrouter: ProviderConfig,
    /// DeepSeek.
    pub deepseek: ProviderConfig,
    /// Groq.
    pub groq: ProviderConfig,
    /// Google Gemini.
    pub gemini: ProviderConfig,
    /// A vLLM deployment (apiBase required).
    pub vllm: ProviderConfig,
    /// xAI.
    pub xai: ProviderConfig,
    /// Scalytics Copilot (apiBase required).
    #[serde(alias = "scalytics-copilot")]
    pub scalytics_copilot: ProviderConfig,
    /// Local Whisper transcription.
    pub local_whisper: LocalWhisperConfig,
}

/// Credentials and endpoint of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderConfig {
    /// API key.
    pub api_key: Secret,
    /// Base URL of the API.
    pub api_base: String,
}

/// The provider ids of [`ProvidersConfig`] with their JSON key and public endpoint.
pub(crate) const PROVIDER_BASES: &[(&str, &str)] = &[
    ("anthropic", "https://api.anthropic.com/v1"),
    ("openai", "https://api.openai.com/v1"),
    ("openrouter", "https://openrouter.ai/api/v1"),
    ("deepseek", "https://api.deepseek.com/v1"),
    ("groq", "https://api.groq.com/openai/v1"),
    ("gemini", "https://generativelanguage.googleapis.com/v1beta"),
    ("vllm", ""),
    ("xai", "https://api.x.ai/v1"),
    ("scalyticsCopilot", ""),
];

impl ProvidersConfig {
    /// The provider with this JSON key (`openai`, `scalyticsCopilot`, ...) or provider id
    /// (`claude`, `scalytics-copilot`).
    pub fn get(&self, id: &str) -> Option<&ProviderConfig> {
        Some(match id {
            "anthropic" | "claude" => &self.anthropic,
            "openai" => &self.openai,
            "openrouter" => &self.openrouter,
            "deepseek" => &self.deepseek,
            "groq" => &self.groq,
            "gemini" => &self.gemini,
            "vllm" => &self.vllm,
            "xai" => &self.xai,
            "scalyticsCopilot" | "scalytics-copilot" => &self.scalytics_copilot,
            _ => return None,
        })
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut ProviderConfig> {
        Some(match id {
            "anthropic" => &mut self.anthropic,
            "openai" => &mut self.openai,
            "openrouter" => &mut self.openrouter,
            "deepseek" => &mut self.deepseek,
            "groq" => &mut self.groq,
            "gemini" => &mut self.gemini,
            "vllm" => &mut self.vllm,
            "xai" => &mut self.xai,
            "scalyticsCopilot" => &mut self.scalytics_copilot,
            _ => return None,
        })
    }

    /// Puts each provider's public endpoint where `apiBase` is empty.
    pub(crate) fn fill_default_bases(&mut self) {
        for (id, base) in PROVIDER_BASES {
            if let Some(p) = self.get_mut(id)
                && p.api_base.is_empty()
            {
                (*base).clone_into(&mut p.api_base);
            }
        }
    }
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        let mut me = Self {
            anthropic: ProviderConfig::default(),
            openai: ProviderConfig::default(),
            openrouter: ProviderConfig::default(),
            deepseek: ProviderConfig::default(),
            groq: ProviderConfig::default(),
            gemini: ProviderConfig::default(),
            vllm: ProviderConfig::default(),
            xai: ProviderConfig::default(),
            scalytics_copilot: ProviderConfig::default(),
            local_whisper: LocalWhisperConfig::default(),
        };
        me.fill_default_bases();
        me
    }
}

/// Local Whisper transcription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalWhisperConfig {
    /// Whether local transcription is used.
    pub enabled: bool,
    /// Whisper model name.
    pub model: String,
    /// The whisper program (a bare name is looked up on PATH).
    pub binary_path: String,
}

impl Default for LocalWhisperConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: "base".to_owned(),
            binary_path: "whisper".to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gateway, tools

/// The HTTP API (`POST /chat`) and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayConfig {
    /// Bind address.
    pub host: String,
    /// API port.
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// Dashboard port.
    #[serde(deserialize_with = "port")]
    pub dashboard_port: u16,
    /// Bearer token for the API and dashboard (required beyond loopback).
    pub auth_token: Secret,
    /// TLS certificate file.
    pub tls_cert: String,
    /// TLS private key file.
    pub tls_key: String,
    /// How the service is run by `daemon` (native, systemd, ...).
    pub daemon_runtime: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 18790,
            dashboard_port: 18791,
            auth_token: Secret::default(),
            tls_cert: String::new(),
            tls_key: String::new(),
            daemon_runtime: "native".to_owned(),
        }
    }
}

/// Tool settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolsConfig {
    /// The shell tool.
    pub exec: ExecToolConfig,
    /// Web search and fetch.
    pub web: WebToolConfig,
    /// Spawned child agents.
    pub subagents: SubagentsConfig,
}

/// Commands the shell tool runs without asking, by default.
pub(crate) const DEFAULT_EXEC_ALLOW: &[&str] = &[
    "git", "ls", "cat", "pwd", "rg", "grep", "sed", "head", "tail", "wc", "echo",
];

/// The shell tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecToolConfig {
    /// Kill a command after this long.
    pub timeout: HumanDuration,
    /// Confine commands to the workspace and work repository.
    pub restrict_to_workspace: bool,
    /// Programs that may be run (first word of the command).
    pub allow_list: Vec<String>,
    /// Extra deny patterns (regular expressions), on top of the built-in guard.
    pub deny_patterns: Vec<String>,
    /// Output kept per stream; the rest is cut.
    pub max_output_bytes: u64,
}

impl Default for ExecToolConfig {
    fn default() -> Self {
        Self {
            timeout: HumanDuration::from_secs(60),
            restrict_to_workspace: true,
            allow_list: DEFAULT_EXEC_ALLOW.iter().map(|s| (*s).to_owned()).collect(),
            deny_patterns: Vec::new(),
            max_output_bytes: 65_536,
        }
    }
}

/// Web tools.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WebToolConfig {
    /// Web search (Brave).
    pub search: WebSearchConfig,
    /// Fetching a URL.
    pub fetch: WebFetchConfig,
}

/// Web search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WebSearchConfig {
    /// Brave Search API key.
    pub api_key: Secret,
    /// Maximum results per search.
    pub max_results: u32,
}

impl Default for WebSearchConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            max_results: 10,
        }
    }
}

/// Fetching a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WebFetchConfig {
    /// Give up after this long.
    pub timeout: HumanDuration,
    /// Largest body read.
    pub max_bytes: u64,
}

impl Default for WebFetchConfig {
    fn default() -> Self {
        Self {
            timeout: HumanDuration::from_secs(30),
            max_bytes: 1_048_576,
        }
    }
}

/// Limits for spawned child agent runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SubagentsConfig {
    /// Active subagent runs, globally.
    pub max_concurrent: u32,
    /// Spawn depth (1 = children cannot spawn).
    pub max_spawn_depth: u32,
    /// Active children per parent session.
    pub max_children_per_agent: u32,
    /// Archive finished runs after this many minutes.
    pub archive_after_minutes: u32,
    /// isolated, handoff or inherit-readonly.
    pub memory_share_mode: String,
    /// Agent ids a session may spawn (`*` = any; empty = the current agent only).
    pub allow_agents: Vec<String>,
    /// Model for children (empty = the parent's).
    pub model: String,
    /// Thinking level for children.
    pub thinking: String,
    /// Tool allow/deny lists for children.
    pub tools: SubagentToolPolicy,
}

impl Default for SubagentsConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 8,
            max_spawn_depth: 1,
            max_children_per_agent: 5,
            archive_after_minutes: 60,
            memory_share_mode: "handoff".to_owned(),
            allow_agents: Vec::new(),
            model: String::new(),
            thinking: String::new(),
            tools: SubagentToolPolicy::default(),
        }
    }
}

/// Tool allow/deny lists for children (`*` suffix wildcard).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SubagentToolPolicy {
    /// Only these tools (empty = all).
    pub allow: Vec<String>,
    /// Never these tools.
    pub deny: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// group, orchestrator

/// Kafka group collaboration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupConfig {
    /// Join a Kafka group.
    pub enabled: bool,
    /// Group name: topics are `group.<groupName>.*`.
    pub group_name: String,
    /// This agent's id in the group (empty = `kafclaw-<hostname>`).
    pub agent_id: String,
    /// Bootstrap brokers, comma-separated `host:port`.
    pub kafka_brokers: String,
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (empty = automatic, see docs).
    pub kafka_security_protocol: String,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty = no SASL).
    pub kafka_sasl_mechanism: String,
    /// SASL user.
    pub kafka_sasl_username: String,
    /// SASL password.
    pub kafka_sasl_password: Secret,
    /// CA bundle for TLS.
    #[serde(rename = "kafkaTlsCAFile")]
    pub kafka_tls_ca_file: String,
    /// Client certificate for TLS.
    pub kafka_tls_cert_file: String,
    /// Client key for TLS.
    pub kafka_tls_key_file: String,
    /// Accepted for compatibility; agents read every partition and keep their own offsets.
    pub consumer_group: String,
    /// KafScale LFS proxy endpoint for large payloads.
    pub lfs_proxy_url: String,
    /// LFS proxy key (sent as `X-API-Key`).
    pub lfs_proxy_api_key: Secret,
    /// Poll cadence of group operations, in milliseconds.
    pub poll_interval_ms: u64,
    /// Heartbeat period, in seconds.
    pub heartbeat_interval_secs: u64,
    /// A member is dropped from the roster after this many missed heartbeats.
    pub missed_heartbeats: u32,
    /// Partitions of the group topics we create.
    pub topic_partitions: u32,
    /// Replication factor of the group topics we create.
    pub replication_factor: u16,
    /// open or gated.
    pub onboard_mode: String,
    /// Shared group secret answering gated onboarding challenges.
    pub onboard_secret: Secret,
    /// How long a newcomer waits for a sponsor's answer while onboarding, in seconds.
    pub onboard_timeout_secs: u64,
    /// Delegation depth limit.
    pub max_delegation_depth: u32,
    /// Deadline of a delegated task without its own, in seconds.
    pub default_task_timeout_secs: u64,
    /// Skills this agent offers to the group.
    pub skills: Vec<String>,
    /// Shared memory items up to this size travel inline; larger ones through LFS.
    pub inline_memory_max_bytes: u64,
    /// Skills served by a command instead of the model: skill name → command. The task's
    /// text goes to the command's standard input and its standard output is the answer.
    /// A command skill is offered to the group like the names in `skills`.
    pub command_skills: BTreeMap<String, CommandSkill>,
}

/// A skill served by running a program (no model), in the same sandbox as `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandSkill {
    /// Program and arguments (no shell). The program must be allowed by `tools.exec`.
    pub argv: Vec<String>,
    /// Kill the command after this many seconds.
    pub timeout_secs: u64,
}

impl Default for CommandSkill {
    fn default() -> Self {
        Self {
            argv: Vec::new(),
            timeout_secs: 60,
        }
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            group_name: String::new(),
            agent_id: String::new(),
            kafka_brokers: "localhost:9092".to_owned(),
            kafka_security_protocol: String::new(),
            kafka_sasl_mechanism: String::new(),
            kafka_sasl_username: String::new(),
            kafka_sasl_password: Secret::default(),
            kafka_tls_ca_file: String::new(),
            kafka_tls_cert_file: String::new(),
            kafka_tls_key_file: String::new(),
            consumer_group: String::new(),
            lfs_proxy_url: "http://localhost:8080".to_owned(),
            lfs_proxy_api_key: Secret::default(),
            poll_interval_ms: 2000,
            heartbeat_interval_secs: 30,
            missed_heartbeats: 3,
            topic_partitions: 3,
            replication_factor: 1,
            onboard_mode: "open".to_owned(),
            onboard_secret: Secret::default(),
            onboard_timeout_secs: 30,
            max_delegation_depth: 3,
            default_task_timeout_secs: 300,
            skills: Vec::new(),
            inline_memory_max_bytes: 65_536,
            command_skills: BTreeMap::new(),
        }
    }
}

/// Kafka security protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS without SASL.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Self::Plaintext,
            "SSL" => Self::Ssl,
            "SASL_PLAINTEXT" => Self::SaslPlaintext,
            "SASL_SSL" => Self::SaslSsl,
            _ => return None,
        })
    }

    /// True for the protocols that use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// True for the protocols that authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// Kafka SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// PLAIN.
    Plain,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// Parses `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Self::Plain,
            "SCRAM-SHA-256" => Self::ScramSha256,
            "SCRAM-SHA-512" => Self::ScramSha512,
            _ => return None,
        })
    }
}

/// How new members join a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnboardMode {
    /// Anyone may join.
    #[default]
    Open,
    /// Joining needs an answered challenge.
    Gated,
}

impl GroupConfig {
    /// The bootstrap brokers as a list.
    pub fn brokers(&self) -> Vec<String> {
        self.kafka_brokers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The security protocol. When none is configured: SASL_SSL if SASL credentials or an
    /// LFS proxy key are set, else PLAINTEXT.
    pub fn security_protocol(&self) -> SecurityProtocol {
        SecurityProtocol::parse(&self.kafka_security_protocol).unwrap_or(
            if self.kafka_sasl_username.is_empty() && self.lfs_proxy_api_key.is_empty() {
                SecurityProtocol::Plaintext
            } else {
                SecurityProtocol::SaslSsl
            },
        )
    }

    /// The SASL mechanism, if one is configured.
    pub fn sasl_mechanism(&self) -> Option<SaslMechanism> {
        SaslMechanism::parse(&self.kafka_sasl_mechanism)
    }

    /// The onboarding mode (empty means open).
    pub fn onboard_mode(&self) -> OnboardMode {
        if self.onboard_mode.eq_ignore_ascii_case("gated") {
            OnboardMode::Gated
        } else {
            OnboardMode::Open
        }
    }
}

/// Hierarchy and zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OrchestratorConfig {
    /// Enable the orchestrator layer.
    pub enabled: bool,
    /// orchestrator, worker or observer.
    pub role: String,
    /// Zone this agent belongs to.
    pub zone_id: String,
    /// Parent agent in the hierarchy.
    pub parent_id: String,
    /// This agent's reachable API endpoint.
    pub endpoint: String,
    /// Discovery is published at start and then every this many seconds; a node silent
    /// for three intervals is shown as stale.
    pub discovery_interval_secs: u64,
    /// Agent ids accepted in the `orchestrator` role besides our configured parent; any
    /// other agent claiming that role is recorded as a worker.
    pub trusted_orchestrators: Vec<String>,
    /// Zones this agent owns: zone id → definition. The owner's definition (with its
    /// `allowedIds`, the members) is the only one other agents accept.
    pub zones: BTreeMap<String, ZoneConfig>,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            role: "worker".to_owned(),
            zone_id: String::new(),
            parent_id: String::new(),
            endpoint: String::new(),
            discovery_interval_secs: 30,
            trusted_orchestrators: Vec::new(),
            zones: BTreeMap::new(),
        }
    }
}

/// A zone owned by this agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoneConfig {
    /// Display name (the zone id when empty).
    pub name: String,
    /// public, shared or private. Private zones get their own task topics.
    pub visibility: String,
    /// The zone's members besides the owner.
    pub allowed_ids: Vec<String>,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            visibility: "shared".to_owned(),
            allowed_ids: Vec::new(),
        }
    }
}

/// The role of an agent in the orchestrator hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OrchestratorRole {
    /// Coordinates workers.
    Orchestrator,
    /// Does the work.
    #[default]
    Worker,
    /// Watches only.
    Observer,
}

impl OrchestratorConfig {
    /// The role (empty means worker).
    pub fn role(&self) -> OrchestratorRole {
        match self.role.as_str() {
            "orchestrator" => OrchestratorRole::Orchestrator,
            "observer" => OrchestratorRole::Observer,
            _ => OrchestratorRole::Worker,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// scheduler, er1, observer

/// The scheduler loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SchedulerConfig {
    /// Run the scheduler.
    pub enabled: bool,
    /// Tick cadence.
    pub tick_interval: HumanDuration,
    /// Concurrent LLM-category jobs.
    #[serde(rename = "maxConcLLM")]
    pub max_conc_llm: u32,
    /// Concurrent shell-category jobs.
    pub max_conc_shell: u32,
    /// Concurrent default-category jobs.
    pub max_conc_default: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            tick_interval: HumanDuration::from_secs(60),
            max_conc_llm: 3,
            max_conc_shell: 1,
            max_conc_default: 5,
        }
    }
}

/// The ER1 personal memory service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Er1Config {
    /// Service URL.
    pub url: String,
    /// API key.
    pub api_key: Secret,
    /// User id.
    pub user_id: String,
    /// Sync period.
    pub sync_interval: HumanDuration,
}

impl Default for Er1Config {
    fn default() -> Self {
        Self {
            url: String::new(),
            api_key: Secret::default(),
            user_id: String::new(),
            sync_interval: HumanDuration::from_secs(300),
        }
    }
}

/// Observational memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ObserverConfig {
    /// Run the observer.
    pub enabled: bool,
    /// Model for compression (empty = the default model).
    pub model: String,
    /// Messages before an observation.
    pub message_threshold: u32,
    /// Observations before a reflection.
    pub max_observations: u32,
}

impl Default for ObserverConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            model: String::new(),
            message_threshold: 50,
            max_observations: 200,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// middleware, finops, policy

/// Sensitivity and task-type classification.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContentClassificationConfig {
    /// Run the classifier.
    pub enabled: bool,
    /// Named sensitivity classes.
    pub sensitivity_levels: BTreeMap<String, SensitivityLevel>,
    /// Task category to model string.
    pub task_type_routes: BTreeMap<String, String>,
}

/// One sensitivity class.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SensitivityLevel {
    /// Regular expressions.
    pub patterns: Vec<String>,
    /// Keywords (case-insensitive).
    pub keywords: Vec<String>,
    /// Model to use when the class matches.
    pub route_to: String,
}

/// A regular expression with a name used in redaction markers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedPattern {
    /// Name, e.g. `employee_id`.
    pub name: String,
    /// Regular expression.
    pub pattern: String,
}

/// PII and secret scanning of prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptGuardConfig {
    /// Run the prompt guard.
    pub enabled: bool,
    /// warn, redact or block.
    pub mode: String,
    /// PII detection.
    pub pii: GuardCategory,
    /// Secret detection.
    pub secrets: GuardCategory,
    /// Keywords that always block.
    pub deny_keywords: Vec<String>,
    /// Extra patterns for both categories.
    pub custom_patterns: Vec<NamedPattern>,
}

impl Default for PromptGuardConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: "warn".to_owned(),
            pii: GuardCategory::default(),
            secrets: GuardCategory::default(),
            deny_keywords: Vec::new(),
            custom_patterns: Vec::new(),
        }
    }
}

/// One category of the prompt guard.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GuardCategory {
    /// Built-in detectors to run.
    pub detect: Vec<String>,
    /// warn, redact or block (empty = the guard's mode).
    pub action: String,
    /// Extra patterns.
    pub custom_patterns: Vec<NamedPattern>,
}

/// Redaction and filtering of answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OutputSanitizationConfig {
    /// Run the sanitizer.
    pub enabled: bool,
    /// Redact PII.
    #[serde(rename = "redactPII")]
    pub redact_pii: bool,
    /// Redact secrets.
    pub redact_secrets: bool,
    /// Extra patterns to redact.
    pub custom_redact_patterns: Vec<NamedPattern>,
    /// Patterns that replace the whole answer.
    pub deny_patterns: Vec<String>,
    /// Truncate longer answers (0 = unlimited).
    pub max_output_length: u64,
}

/// Cost attribution and budgets (USD).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FinOpsConfig {
    /// Record costs.
    pub enabled: bool,
    /// Provider id to prices.
    pub pricing: BTreeMap<String, Pricing>,
    /// Daily budget (0 = unlimited).
    pub daily_budget: f64,
    /// Monthly budget (0 = unlimited).
    pub monthly_budget: f64,
}

/// Prices of one provider, USD per 1,000 tokens.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pricing {
    /// Prompt tokens.
    #[serde(rename = "promptPer1kTokens")]
    pub prompt_per_1k_tokens: f64,
    /// Completion tokens.
    #[serde(rename = "completionPer1kTokens")]
    pub completion_per_1k_tokens: f64,
}

/// Tool limits per sender trust class, rate limits and the daily token quota. It mirrors
/// `kafclaw_policy::PolicyConfig` (with camelCase keys); [`PolicyConfig::to_engine_config`]
/// converts it, and its defaults are that crate's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyConfig {
    /// The operator: CLI, local API with a valid token, scheduler.
    #[serde(deserialize_with = "ClassLimits::de_owner")]
    pub owner: ClassLimits,
    /// Other agents of our Kafka group.
    #[serde(deserialize_with = "ClassLimits::de_peer")]
    pub peer: ClassLimits,
    /// Everyone else: chat channels, unauthenticated senders.
    #[serde(deserialize_with = "ClassLimits::de_external")]
    pub external: ClassLimits,
    /// External senders allowed to use tools at all (empty = no allow-list).
    pub allowed_senders: Vec<String>,
    /// Tool calls per sender, for classes with `rateLimited`.
    pub sender_rate_limit: Option<RateLimitConfig>,
    /// Tool calls per channel, for classes with `rateLimited`.
    pub channel_rate_limit: Option<RateLimitConfig>,
    /// Model tokens per UTC day across all tasks (0 = unlimited); the runtime setting
    /// `daily_token_limit` overrides it.
    pub daily_token_limit: u64,
}

/// Limits of one trust class. Keys left out of the file keep that class's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClassLimits {
    /// Highest tool tier (0 read, 1 write, 2 run programs / reach the network).
    pub max_tier: ToolTier,
    /// Tiers (at or below `maxTier`) that wait for a human approval.
    pub approval_tiers: Vec<ToolTier>,
    /// Whether the sender and channel rate limits apply.
    pub rate_limited: bool,
}

/// The same keys with each one optional, merged over a class's defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PartialClassLimits {
    max_tier: Option<ToolTier>,
    approval_tiers: Option<Vec<ToolTier>>,
    rate_limited: Option<bool>,
}

impl ClassLimits {
    fn from_engine(c: &kafclaw_policy::ClassPolicy) -> Self {
        Self {
            max_tier: c.max_tier,
            approval_tiers: c.approval_tiers.iter().copied().collect(),
            rate_limited: c.rate_limited,
        }
    }

    fn to_engine(&self) -> kafclaw_policy::ClassPolicy {
        kafclaw_policy::ClassPolicy {
            max_tier: self.max_tier,
            approval_tiers: self.approval_tiers.iter().copied().collect(),
            rate_limited: self.rate_limited,
        }
    }

    fn merged<'de, D: serde::Deserializer<'de>>(d: D, class: TrustClass) -> Result<Self, D::Error> {
        let base = Self::from_engine(kafclaw_policy::PolicyConfig::default().class(class));
        let p = PartialClassLimits::deserialize(d)?;
        Ok(Self {
            max_tier: p.max_tier.unwrap_or(base.max_tier),
            approval_tiers: p.approval_tiers.unwrap_or(base.approval_tiers),
            rate_limited: p.rate_limited.unwrap_or(base.rate_limited),
        })
    }

    fn de_owner<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::merged(d, TrustClass::Owner)
    }

    fn de_peer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::merged(d, TrustClass::Peer)
    }

    fn de_external<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::merged(d, TrustClass::External)
    }
}

/// "At most `maxCalls` calls per `windowSecs` seconds" (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimitConfig {
    /// Calls allowed in a burst.
    pub max_calls: u32,
    /// Seconds over which the calls refill.
    pub window_secs: u64,
}

impl PolicyConfig {
    /// The policy engine's configuration.
    pub fn to_engine_config(&self) -> kafclaw_policy::PolicyConfig {
        let rate = |r: &RateLimitConfig| kafclaw_policy::RateLimit {
            max_calls: r.max_calls,
            window_secs: r.window_secs,
        };
        kafclaw_policy::PolicyConfig {
            owner: self.owner.to_engine(),
            peer: self.peer.to_engine(),
            external: self.external.to_engine(),
            allowed_senders: self.allowed_senders.iter().cloned().collect(),
            sender_rate_limit: self.sender_rate_limit.as_ref().map(rate),
            channel_rate_limit: self.channel_rate_limit.as_ref().map(rate),
            daily_token_limit: self.daily_token_limit,
        }
    }

    /// The limits of one trust class.
    pub fn class(&self, class: TrustClass) -> &ClassLimits {
        match class {
            TrustClass::Owner => &self.owner,
            TrustClass::Peer => &self.peer,
            TrustClass::External => &self.external,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let e = kafclaw_policy::PolicyConfig::default();
        let rate = |r: &kafclaw_policy::RateLimit| RateLimitConfig {
            max_calls: r.max_calls,
            window_secs: r.window_secs,
        };
        Self {
            owner: ClassLimits::from_engine(&e.owner),
            peer: ClassLimits::from_engine(&e.peer),
            external: ClassLimits::from_engine(&e.external),
            allowed_senders: e.allowed_senders.iter().cloned().collect(),
            sender_rate_limit: e.sender_rate_limit.as_ref().map(rate),
            channel_rate_limit: e.channel_rate_limit.as_ref().map(rate),
            daily_token_limit: e.daily_token_limit,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// memory, skills, knowledge, node, kafgraph

/// Embeddings and memory search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MemoryConfig {
    /// The embedder.
    pub embedding: EmbeddingConfig,
    /// Retrieval.
    pub search: MemorySearchConfig,
}

/// The embedder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EmbeddingConfig {
    /// Compute embeddings.
    pub enabled: bool,
    /// local-hf, openai or disabled.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Vector dimension.
    pub dimension: u32,
    /// Normalise vectors.
    pub normalize: bool,
    /// Model cache (default `$KAFCLAW_HOME/models`).
    pub cache_dir: String,
    /// Download the model when missing.
    pub auto_download: bool,
    /// Local embedding server.
    pub endpoint: String,
    /// Wait this long for the local server, in seconds.
    pub startup_timeout_sec: u32,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: "local-hf".to_owned(),
            model: "BAAI/bge-small-en-v1.5".to_owned(),
            dimension: 384,
            normalize: true,
            cache_dir: String::new(),
            auto_download: true,
            endpoint: "http://127.0.0.1:8091".to_owned(),
            startup_timeout_sec: 45,
        }
    }
}

/// Retrieval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MemorySearchConfig {
    /// hybrid, vector or keyword.
    pub mode: String,
    /// Hits per query.
    pub max_results: u32,
    /// Minimum similarity (0 to 1).
    pub min_score: f64,
}

impl Default for MemorySearchConfig {
    fn default() -> Self {
        Self {
            mode: "hybrid".to_owned(),
            max_results: 8,
            min_score: 0.22,
        }
    }
}

/// The skill catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SkillsConfig {
    /// Use skills.
    pub enabled: bool,
    /// Load skills from the system repository.
    pub allow_system_repo_skills: bool,
    /// Load skills from the workspace.
    pub allow_workspace_skills: bool,
    /// Allow installs from outside.
    pub external_installs: bool,
    /// npm, pnpm or bun.
    pub node_manager: String,
    /// selected or all.
    pub scope: String,
    /// auto, host or strict.
    pub runtime_isolation: String,
    /// Links allowed in skills.
    pub link_policy: SkillLinkPolicy,
    /// Per-skill switches.
    pub entries: BTreeMap<String, SkillEntry>,
}

impl Default for SkillsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allow_system_repo_skills: true,
            allow_workspace_skills: false,
            external_installs: false,
            node_manager: "npm".to_owned(),
            scope: "selected".to_owned(),
            runtime_isolation: "auto".to_owned(),
            link_policy: SkillLinkPolicy::default(),
            entries: BTreeMap::new(),
        }
    }
}

/// Links allowed in skills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SkillLinkPolicy {
    /// allowlist, denylist or open.
    pub mode: String,
    /// Allowed domains.
    pub allow_domains: Vec<String>,
    /// Denied domains.
    pub deny_domains: Vec<String>,
    /// Allow plain http links.
    #[serde(rename = "allowHttp")]
    pub allow_http: bool,
    /// Links per skill.
    pub max_links_per_skill: u32,
}

impl Default for SkillLinkPolicy {
    fn default() -> Self {
        Self {
            mode: "allowlist".to_owned(),
            allow_domains: vec!["clawhub.ai".to_owned()],
            deny_domains: Vec::new(),
            allow_http: false,
            max_links_per_skill: 20,
        }
    }
}

/// One skill's switches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SkillEntry {
    /// Use this skill.
    pub enabled: bool,
    /// Capabilities granted to it.
    pub capabilities: Vec<String>,
}

/// Knowledge governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KnowledgeConfig {
    /// Take part in knowledge governance.
    pub enabled: bool,
    /// Facts need a vote.
    pub governance_enabled: bool,
    /// Knowledge group (topics `group.<group>.knowledge.*`).
    pub group: String,
    /// proposal or direct.
    pub share_mode: String,
    /// Topic names (empty = derived from `group`).
    pub topics: KnowledgeTopics,
    /// Tag filters for publishing.
    pub publish: KnowledgePublish,
    /// Voting rules.
    pub voting: KnowledgeVoting,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            governance_enabled: true,
            group: "kafclaw".to_owned(),
            share_mode: "proposal".to_owned(),
            topics: KnowledgeTopics::default(),
            publish: KnowledgePublish::default(),
            voting: KnowledgeVoting::default(),
        }
    }
}

/// Knowledge topic names (empty = `group.<group>.knowledge.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KnowledgeTopics {
    /// Capabilities topic.
    pub capabilities: String,
    /// Presence topic.
    pub presence: String,
    /// Proposals topic.
    pub proposals: String,
    /// Votes topic.
    pub votes: String,
    /// Decisions topic.
    pub decisions: String,
    /// Facts topic.
    pub facts: String,
}

/// Tag filters for publishing knowledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KnowledgePublish {
    /// Tags that may be published.
    pub allow_tags: Vec<String>,
    /// Tags that are never published.
    pub deny_tags: Vec<String>,
}

impl Default for KnowledgePublish {
    fn default() -> Self {
        Self {
            allow_tags: ["ops", "security", "runbook", "integration"]
                .map(str::to_owned)
                .to_vec(),
            deny_tags: ["pii", "secrets", "customer-private"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// Voting rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KnowledgeVoting {
    /// Votes are held.
    pub enabled: bool,
    /// Members needed for a vote.
    pub min_pool_size: u32,
    /// Yes votes that approve.
    pub quorum_yes: u32,
    /// No votes that reject.
    pub quorum_no: u32,
    /// Seconds before a proposal expires.
    pub timeout_sec: u32,
    /// A proposer may vote on its own proposal.
    pub allow_self_vote: bool,
}

impl Default for KnowledgeVoting {
    fn default() -> Self {
        Self {
            enabled: true,
            min_pool_size: 3,
            quorum_yes: 2,
            quorum_no: 2,
            timeout_sec: 120,
            allow_self_vote: false,
        }
    }
}

/// This node's identity for knowledge governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeConfig {
    /// Claw id.
    pub claw_id: String,
    /// Instance id.
    pub instance_id: String,
    /// Display name.
    pub display_name: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            claw_id: "claw-local".to_owned(),
            instance_id: "default".to_owned(),
            display_name: "KafClaw Local".to_owned(),
        }
    }
}

/// KafGraph synchronisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KafgraphConfig {
    /// Service URL (empty = off).
    pub url: String,
    /// Node label of memory items.
    pub label: String,
    /// Sync period.
    pub sync_interval: HumanDuration,
}

impl Default for KafgraphConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            label: "MemoryItem".to_owned(),
            sync_interval: HumanDuration::from_secs(300),
        }
    }
}
