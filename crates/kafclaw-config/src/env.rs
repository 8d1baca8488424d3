//! Environment variables: the source they are read from, and the table that binds each
//! documented `KAFCLAW_*` variable (with its other accepted names) to a config key.

use std::collections::BTreeMap;

/// A snapshot of environment variables. Library code reads variables only from here, so
/// tests can pass exactly the variables they mean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// No variables at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The variables of this process (those that are valid UTF-8). When `HOME` is not set,
    /// the operating system's idea of the home directory is filled in.
    pub fn from_process() -> Self {
        let mut vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        if vars.get("HOME").is_none_or(String::is_empty)
            && let Some(home) =
                std::env::home_dir().and_then(|p| p.into_os_string().into_string().ok())
        {
            vars.insert("HOME".to_owned(), home);
        }
        Self { vars }
    }

    /// The value of a variable; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Sets a variable (for building test environments).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// One environment variable bound to a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvBinding {
    /// The documented name, e.g. `KAFCLAW_GATEWAY_PORT`.
    pub name: &'static str,
    /// The dotted config key it sets, e.g. `gateway.port`.
    pub key: &'static str,
    /// Other names accepted for the same key (Go spellings and legacy names), in the
    /// order they are consulted after `name`.
    pub aliases: &'static [&'static str],
}

impl EnvBinding {
    /// Every accepted name in precedence order: the `KAFCLAW_` names first, then the
    /// legacy `MIKROBOT_` spellings of each and the explicit legacy aliases.
    pub fn candidates(&self) -> Vec<String> {
        let kafclaw: Vec<&str> = std::iter::once(self.name)
            .chain(self.aliases.iter().copied())
            .filter(|n| n.starts_with(PREFIX))
            .collect();
        let mut out: Vec<String> = kafclaw.iter().map(|n| (*n).to_owned()).collect();
        out.extend(
            kafclaw
                .iter()
                .filter_map(|n| n.strip_prefix(PREFIX))
                .map(|rest| format!("{LEGACY_PREFIX}{rest}")),
        );
        for alias in self.aliases {
            if !alias.starts_with(PREFIX) && !out.iter().any(|o| o == alias) {
                out.push((*alias).to_owned());
            }
        }
        out
    }
}

/// The prefix of our variables.
pub(crate) const PREFIX: &str = "KAFCLAW_";
/// The prefix of the project's former name; read after `KAFCLAW_`.
pub(crate) const LEGACY_PREFIX: &str = "MIKROBOT_";

const fn bind(name: &'static str, key: &'static str) -> EnvBinding {
    EnvBinding {
        name,
        key,
        aliases: &[],
    }
}

const fn bind_also(
    name: &'static str,
    key: &'static str,
    aliases: &'static [&'static str],
) -> EnvBinding {
    EnvBinding { name, key, aliases }
}

/// Variables read only when the key is still empty after the file and the `KAFCLAW_`
/// variables: the providers' own conventional names.
pub(crate) const FALLBACKS: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "providers.openai.apiKey"),
    ("OPENROUTER_API_KEY", "providers.openrouter.apiKey"),
    ("BRAVE_API_KEY", "tools.web.search.apiKey"),
];

/// Every environment variable that overrides a config key.
pub(crate) const BINDINGS: &[EnvBinding] = &[
    // paths and model: the seeds name them KAFCLAW_AGENTS_*, the Go code KAFCLAW_PATHS_* / KAFCLAW_MODEL_*.
    bind_also(
        "KAFCLAW_AGENTS_WORKSPACE",
        "paths.workspace",
        &["KAFCLAW_PATHS_WORKSPACE"],
    ),
    bind_also(
        "KAFCLAW_AGENTS_WORK_REPO_PATH",
        "paths.workRepoPath",
        &["KAFCLAW_PATHS_WORK_REPO_PATH"],
    ),
    bind_also(
        "KAFCLAW_AGENTS_SYSTEM_REPO_PATH",
        "paths.systemRepoPath",
        &["KAFCLAW_PATHS_SYSTEM_REPO_PATH"],
    ),
    bind_also(
        "KAFCLAW_AGENTS_MODEL",
        "model.name",
        &["KAFCLAW_MODEL_NAME", "KAFCLAW_MODEL_MODEL"],
    ),
    bind_also(
        "KAFCLAW_AGENTS_MAX_TOKENS",
        "model.maxTokens",
        &["KAFCLAW_MODEL_MAX_TOKENS"],
    ),
    bind_also(
        "KAFCLAW_AGENTS_TEMPERATURE",
        "model.temperature",
        &["KAFCLAW_MODEL_TEMPERATURE"],
    ),
    bind_also(
        "KAFCLAW_AGENTS_MAX_TOOL_ITERATIONS",
        "model.maxToolIterations",
        &["KAFCLAW_MODEL_MAX_TOOL_ITERATIONS"],
    ),
    // channels
    bind(
        "KAFCLAW_CHANNELS_WHATSAPP_ENABLED",
        "channels.whatsapp.enabled",
    ),
    bind(
        "KAFCLAW_CHANNELS_WHATSAPP_BRIDGE_URL",
        "channels.whatsapp.bridgeUrl",
    ),
    bind(
        "KAFCLAW_CHANNELS_WHATSAPP_DROP_UNAUTHORIZED",
        "channels.whatsapp.dropUnauthorized",
    ),
    bind(
        "KAFCLAW_CHANNELS_WHATSAPP_IGNORE_REACTIONS",
        "channels.whatsapp.ignoreReactions",
    ),
    bind(
        "KAFCLAW_CHANNELS_WHATSAPP_SESSION_SCOPE",
        "channels.whatsapp.sessionScope",
    ),
    bind(
        "KAFCLAW_CHANNELS_TELEGRAM_ENABLED",
        "channels.telegram.enabled",
    ),
    bind("KAFCLAW_CHANNELS_TELEGRAM_TOKEN", "channels.telegram.token"),
    bind(
        "KAFCLAW_CHANNELS_DISCORD_ENABLED",
        "channels.discord.enabled",
    ),
    bind("KAFCLAW_CHANNELS_DISCORD_TOKEN", "channels.discord.token"),
    bind("KAFCLAW_CHANNELS_SLACK_ENABLED", "channels.slack.enabled"),
    bind(
        "KAFCLAW_CHANNELS_SLACK_BOT_TOKEN",
        "channels.slack.botToken",
    ),
    bind(
        "KAFCLAW_CHANNELS_SLACK_APP_TOKEN",
        "channels.slack.appToken",
    ),
    bind_also(
        "KAFCLAW_CHANNELS_SLACK_INBOUND_TOKEN",
        "channels.slack.inboundToken",
        &["KAFCLAW_SLACK_INBOUND_TOKEN"],
    ),
    bind(
        "KAFCLAW_CHANNELS_SLACK_OUTBOUND_URL",
        "channels.slack.outboundUrl",
    ),
    bind(
        "KAFCLAW_CHANNELS_SLACK_SESSION_SCOPE",
        "channels.slack.sessionScope",
    ),
    bind(
        "KAFCLAW_CHANNELS_SLACK_REQUIRE_MENTION",
        "channels.slack.requireMention",
    ),
    bind(
        "KAFCLAW_CHANNELS_MSTEAMS_ENABLED",
        "channels.msteams.enabled",
    ),
    bind("KAFCLAW_CHANNELS_MSTEAMS_APP_ID", "channels.msteams.appId"),
    bind(
        "KAFCLAW_CHANNELS_MSTEAMS_APP_PASSWORD",
        "channels.msteams.appPassword",
    ),
    bind(
        "KAFCLAW_CHANNELS_MSTEAMS_TENANT_ID",
        "channels.msteams.tenantId",
    ),
    bind_also(
        "KAFCLAW_CHANNELS_MSTEAMS_INBOUND_TOKEN",
        "channels.msteams.inboundToken",
        &["KAFCLAW_MSTEAMS_INBOUND_TOKEN"],
    ),
    bind(
        "KAFCLAW_CHANNELS_MSTEAMS_OUTBOUND_URL",
        "channels.msteams.outboundUrl",
    ),
    bind(
        "KAFCLAW_CHANNELS_MSTEAMS_SESSION_SCOPE",
        "channels.msteams.sessionScope",
    ),
    bind(
        "KAFCLAW_CHANNELS_MSTEAMS_REQUIRE_MENTION",
        "channels.msteams.requireMention",
    ),
    // providers
    bind_also(
        "KAFCLAW_PROVIDERS_ANTHROPIC_API_KEY",
        "providers.anthropic.apiKey",
        &["KAFCLAW_PROVIDERS_CLAUDE_API_KEY"],
    ),
    bind(
        "KAFCLAW_PROVIDERS_ANTHROPIC_API_BASE",
        "providers.anthropic.apiBase",
    ),
    bind_also(
        "KAFCLAW_PROVIDERS_OPENAI_API_KEY",
        "providers.openai.apiKey",
        &["KAFCLAW_OPENAI_API_KEY"],
    ),
    bind_also(
        "KAFCLAW_PROVIDERS_OPENAI_API_BASE",
        "providers.openai.apiBase",
        &["KAFCLAW_OPENAI_API_BASE"],
    ),
    bind(
        "KAFCLAW_PROVIDERS_OPENROUTER_API_KEY",
        "providers.openrouter.apiKey",
    ),
    bind(
        "KAFCLAW_PROVIDERS_OPENROUTER_API_BASE",
        "providers.openrouter.apiBase",
    ),
    bind(
        "KAFCLAW_PROVIDERS_DEEPSEEK_API_KEY",
        "providers.deepseek.apiKey",
    ),
    bind(
        "KAFCLAW_PROVIDERS_DEEPSEEK_API_BASE",
        "providers.deepseek.apiBase",
    ),
    bind("KAFCLAW_PROVIDERS_GROQ_API_KEY", "providers.groq.apiKey"),
    bind("KAFCLAW_PROVIDERS_GROQ_API_BASE", "providers.groq.apiBase"),
    bind(
        "KAFCLAW_PROVIDERS_GEMINI_API_KEY",
        "providers.gemini.apiKey",
    ),
    bind(
        "KAFCLAW_PROVIDERS_GEMINI_API_BASE",
        "providers.gemini.apiBase",
    ),
    bind("KAFCLAW_PROVIDERS_VLLM_API_KEY", "providers.vllm.apiKey"),
    bind("KAFCLAW_PROVIDERS_VLLM_API_BASE", "providers.vllm.apiBase"),
    bind("KAFCLAW_PROVIDERS_XAI_API_KEY", "providers.xai.apiKey"),
    bind("KAFCLAW_PROVIDERS_XAI_API_BASE", "providers.xai.apiBase"),
    bind(
        "KAFCLAW_PROVIDERS_SCALYTICS_COPILOT_API_KEY",
        "providers.scalyticsCopilot.apiKey",
    ),
    bind(
        "KAFCLAW_PROVIDERS_SCALYTICS_COPILOT_API_BASE",
        "providers.scalyticsCopilot.apiBase",
    ),
    // gateway
    bind("KAFCLAW_GATEWAY_HOST", "gateway.host"),
    bind("KAFCLAW_GATEWAY_PORT", "gateway.port"),
    bind("KAFCLAW_GATEWAY_DASHBOARD_PORT", "gateway.dashboardPort"),
    bind("KAFCLAW_GATEWAY_AUTH_TOKEN", "gateway.authToken"),
    bind("KAFCLAW_GATEWAY_TLS_CERT", "gateway.tlsCert"),
    bind("KAFCLAW_GATEWAY_TLS_KEY", "gateway.tlsKey"),
    bind("KAFCLAW_GATEWAY_DAEMON_RUNTIME", "gateway.daemonRuntime"),
    // tools
    bind("KAFCLAW_TOOLS_EXEC_TIMEOUT", "tools.exec.timeout"),
    bind_also(
        "KAFCLAW_TOOLS_EXEC_RESTRICT_WORKSPACE",
        "tools.exec.restrictToWorkspace",
        &["KAFCLAW_TOOLS_EXEC_EXEC_RESTRICT_WORKSPACE"],
    ),
    bind("KAFCLAW_TOOLS_EXEC_ALLOW_LIST", "tools.exec.allowList"),
    bind_also(
        "KAFCLAW_BRAVE_API_KEY",
        "tools.web.search.apiKey",
        &["KAFCLAW_TOOLS_WEB_SEARCH_BRAVE_API_KEY"],
    ),
    bind(
        "KAFCLAW_TOOLS_WEB_SEARCH_MAX_RESULTS",
        "tools.web.search.maxResults",
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_MAX_CONCURRENT",
        "tools.subagents.maxConcurrent",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_MAX_CONCURRENT"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_MAX_SPAWN_DEPTH",
        "tools.subagents.maxSpawnDepth",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_MAX_SPAWN_DEPTH"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_MAX_CHILDREN_PER_AGENT",
        "tools.subagents.maxChildrenPerAgent",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_MAX_CHILDREN_PER_AGENT"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_ARCHIVE_AFTER_MINUTES",
        "tools.subagents.archiveAfterMinutes",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_ARCHIVE_AFTER_MINUTES"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_MEMORY_SHARE_MODE",
        "tools.subagents.memoryShareMode",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_MEMORY_SHARE_MODE"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_ALLOW_AGENTS",
        "tools.subagents.allowAgents",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_ALLOW_AGENTS"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_MODEL",
        "tools.subagents.model",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_MODEL"],
    ),
    bind_also(
        "KAFCLAW_TOOLS_SUBAGENTS_THINKING",
        "tools.subagents.thinking",
        &["KAFCLAW_AGENTS_DEFAULTS_SUBAGENTS_THINKING"],
    ),
    // group
    bind("KAFCLAW_GROUP_ENABLED", "group.enabled"),
    bind("KAFCLAW_GROUP_GROUP_NAME", "group.groupName"),
    bind("KAFCLAW_GROUP_AGENT_ID", "group.agentId"),
    bind_also(
        "KAFCLAW_GROUP_KAFKA_BROKERS",
        "group.kafkaBrokers",
        &["MIKROBOT_KAFKA_BROKERS"],
    ),
    bind(
        "KAFCLAW_GROUP_KAFKA_SECURITY_PROTOCOL",
        "group.kafkaSecurityProtocol",
    ),
    bind(
        "KAFCLAW_GROUP_KAFKA_SASL_MECHANISM",
        "group.kafkaSaslMechanism",
    ),
    bind(
        "KAFCLAW_GROUP_KAFKA_SASL_USERNAME",
        "group.kafkaSaslUsername",
    ),
    bind(
        "KAFCLAW_GROUP_KAFKA_SASL_PASSWORD",
        "group.kafkaSaslPassword",
    ),
    bind("KAFCLAW_GROUP_KAFKA_TLS_CA_FILE", "group.kafkaTlsCAFile"),
    bind(
        "KAFCLAW_GROUP_KAFKA_TLS_CERT_FILE",
        "group.kafkaTlsCertFile",
    ),
    bind("KAFCLAW_GROUP_KAFKA_TLS_KEY_FILE", "group.kafkaTlsKeyFile"),
    bind("KAFCLAW_GROUP_KAFKA_CONSUMER_GROUP", "group.consumerGroup"),
    bind("KAFCLAW_GROUP_KAFSCALE_LFS_PROXY_URL", "group.lfsProxyUrl"),
    bind(
        "KAFCLAW_GROUP_KAFSCALE_LFS_PROXY_API_KEY",
        "group.lfsProxyApiKey",
    ),
    bind("KAFCLAW_GROUP_POLL_INTERVAL_MS", "group.pollIntervalMs"),
    bind(
        "KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS",
        "group.heartbeatIntervalSecs",
    ),
    bind("KAFCLAW_GROUP_MISSED_HEARTBEATS", "group.missedHeartbeats"),
    bind("KAFCLAW_GROUP_TOPIC_PARTITIONS", "group.topicPartitions"),
    bind(
        "KAFCLAW_GROUP_REPLICATION_FACTOR",
        "group.replicationFactor",
    ),
    bind("KAFCLAW_GROUP_ONBOARD_MODE", "group.onboardMode"),
    bind("KAFCLAW_GROUP_ONBOARD_SECRET", "group.onboardSecret"),
    bind(
        "KAFCLAW_GROUP_ONBOARD_TIMEOUT_SECS",
        "group.onboardTimeoutSecs",
    ),
    bind(
        "KAFCLAW_GROUP_MAX_DELEGATION_DEPTH",
        "group.maxDelegationDepth",
    ),
    bind(
        "KAFCLAW_GROUP_DEFAULT_TASK_TIMEOUT_SECS",
        "group.defaultTaskTimeoutSecs",
    ),
    bind("KAFCLAW_GROUP_SKILLS", "group.skills"),
    bind(
        "KAFCLAW_GROUP_INLINE_MEMORY_MAX_BYTES",
        "group.inlineMemoryMaxBytes",
    ),
    // orchestrator
    bind("KAFCLAW_ORCHESTRATOR_ENABLED", "orchestrator.enabled"),
    bind("KAFCLAW_ORCHESTRATOR_ROLE", "orchestrator.role"),
    bind("KAFCLAW_ORCHESTRATOR_ZONE_ID", "orchestrator.zoneId"),
    bind("KAFCLAW_ORCHESTRATOR_PARENT_ID", "orchestrator.parentId"),
    bind("KAFCLAW_ORCHESTRATOR_ENDPOINT", "orchestrator.endpoint"),
    bind(
        "KAFCLAW_ORCHESTRATOR_DISCOVERY_INTERVAL_SECS",
        "orchestrator.discoveryIntervalSecs",
    ),
    bind(
        "KAFCLAW_ORCHESTRATOR_TRUSTED_ORCHESTRATORS",
        "orchestrator.trustedOrchestrators",
    ),
    // scheduler
    bind("KAFCLAW_SCHEDULER_ENABLED", "scheduler.enabled"),
    bind("KAFCLAW_SCHEDULER_TICK_INTERVAL", "scheduler.tickInterval"),
    bind("KAFCLAW_SCHEDULER_MAX_CONC_LLM", "scheduler.maxConcLLM"),
    bind("KAFCLAW_SCHEDULER_MAX_CONC_SHELL", "scheduler.maxConcShell"),
    bind(
        "KAFCLAW_SCHEDULER_MAX_CONC_DEFAULT",
        "scheduler.maxConcDefault",
    ),
    // er1
    bind("KAFCLAW_ER1_URL", "er1.url"),
    bind("KAFCLAW_ER1_API_KEY", "er1.apiKey"),
    bind("KAFCLAW_ER1_USER_ID", "er1.userId"),
    bind("KAFCLAW_ER1_SYNC_INTERVAL", "er1.syncInterval"),
    // observer
    bind("KAFCLAW_OBSERVER_ENABLED", "observer.enabled"),
    bind("KAFCLAW_OBSERVER_MODEL", "observer.model"),
    bind_also(
        "KAFCLAW_OBSERVER_MESSAGE_THRESHOLD",
        "observer.messageThreshold",
        &["KAFCLAW_OBSERVER_MSG_THRESHOLD"],
    ),
    bind_also(
        "KAFCLAW_OBSERVER_MAX_OBSERVATIONS",
        "observer.maxObservations",
        &["KAFCLAW_OBSERVER_MAX_OBS"],
    ),
    // finops, policy
    bind("KAFCLAW_FINOPS_ENABLED", "finops.enabled"),
    bind("KAFCLAW_FINOPS_DAILY_BUDGET", "finops.dailyBudget"),
    bind("KAFCLAW_FINOPS_MONTHLY_BUDGET", "finops.monthlyBudget"),
    bind("KAFCLAW_POLICY_OWNER_MAX_TIER", "policy.owner.maxTier"),
    bind("KAFCLAW_POLICY_PEER_MAX_TIER", "policy.peer.maxTier"),
    bind(
        "KAFCLAW_POLICY_EXTERNAL_MAX_TIER",
        "policy.external.maxTier",
    ),
    bind("KAFCLAW_POLICY_ALLOWED_SENDERS", "policy.allowedSenders"),
    bind("KAFCLAW_POLICY_DAILY_TOKEN_LIMIT", "policy.dailyTokenLimit"),
    // memory
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_ENABLED",
        "memory.embedding.enabled",
    ),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_PROVIDER",
        "memory.embedding.provider",
    ),
    bind("KAFCLAW_MEMORY_EMBEDDING_MODEL", "memory.embedding.model"),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_DIMENSION",
        "memory.embedding.dimension",
    ),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_NORMALIZE",
        "memory.embedding.normalize",
    ),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_CACHE_DIR",
        "memory.embedding.cacheDir",
    ),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_AUTO_DOWNLOAD",
        "memory.embedding.autoDownload",
    ),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_ENDPOINT",
        "memory.embedding.endpoint",
    ),
    bind(
        "KAFCLAW_MEMORY_EMBEDDING_STARTUP_TIMEOUT_SEC",
        "memory.embedding.startupTimeoutSec",
    ),
    bind("KAFCLAW_MEMORY_SEARCH_MODE", "memory.search.mode"),
    bind(
        "KAFCLAW_MEMORY_SEARCH_MAX_RESULTS",
        "memory.search.maxResults",
    ),
    bind("KAFCLAW_MEMORY_SEARCH_MIN_SCORE", "memory.search.minScore"),
    // skills, knowledge, node
    bind("KAFCLAW_SKILLS_ENABLED", "skills.enabled"),
    bind("KAFCLAW_SKILLS_NODE_MANAGER", "skills.nodeManager"),
    bind("KAFCLAW_SKILLS_SCOPE", "skills.scope"),
    bind(
        "KAFCLAW_SKILLS_RUNTIME_ISOLATION",
        "skills.runtimeIsolation",
    ),
    bind("KAFCLAW_KNOWLEDGE_ENABLED", "knowledge.enabled"),
    bind(
        "KAFCLAW_KNOWLEDGE_GOVERNANCE_ENABLED",
        "knowledge.governanceEnabled",
    ),
    bind("KAFCLAW_KNOWLEDGE_GROUP", "knowledge.group"),
    bind("KAFCLAW_KNOWLEDGE_SHARE_MODE", "knowledge.shareMode"),
    bind(
        "KAFCLAW_KNOWLEDGE_VOTING_ENABLED",
        "knowledge.voting.enabled",
    ),
    bind(
        "KAFCLAW_KNOWLEDGE_VOTING_MIN_POOL_SIZE",
        "knowledge.voting.minPoolSize",
    ),
    bind(
        "KAFCLAW_KNOWLEDGE_VOTING_QUORUM_YES",
        "knowledge.voting.quorumYes",
    ),
    bind(
        "KAFCLAW_KNOWLEDGE_VOTING_QUORUM_NO",
        "knowledge.voting.quorumNo",
    ),
    bind(
        "KAFCLAW_KNOWLEDGE_VOTING_TIMEOUT_SEC",
        "knowledge.voting.timeoutSec",
    ),
    bind(
        "KAFCLAW_KNOWLEDGE_VOTING_ALLOW_SELF_VOTE",
        "knowledge.voting.allowSelfVote",
    ),
    bind("KAFCLAW_NODE_CLAW_ID", "node.clawId"),
    bind("KAFCLAW_NODE_INSTANCE_ID", "node.instanceId"),
    bind("KAFCLAW_NODE_DISPLAY_NAME", "node.displayName"),
];

/// Every environment variable bound to a config key, in documentation order.
pub fn env_bindings() -> &'static [EnvBinding] {
    BINDINGS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{DEFAULTS, lookup};

    #[test]
    fn every_binding_names_an_existing_key() {
        for b in BINDINGS {
            assert!(
                lookup(&DEFAULTS, b.key).is_some(),
                "{} -> {}",
                b.name,
                b.key
            );
            assert!(b.name.starts_with(PREFIX), "{}", b.name);
        }
        for (var, key) in FALLBACKS {
            assert!(lookup(&DEFAULTS, key).is_some(), "{var} -> {key}");
        }
    }

    #[test]
    fn no_name_is_bound_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for b in BINDINGS {
            for name in b.candidates() {
                assert!(seen.insert(name.clone()), "{name} is bound twice");
            }
        }
    }

    #[test]
    fn candidates_put_kafclaw_names_first() {
        let b = BINDINGS
            .iter()
            .find(|b| b.key == "group.kafkaBrokers")
            .copied()
            .unwrap();
        assert_eq!(
            b.candidates(),
            [
                "KAFCLAW_GROUP_KAFKA_BROKERS",
                "MIKROBOT_GROUP_KAFKA_BROKERS",
                "MIKROBOT_KAFKA_BROKERS"
            ]
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env: Environment = [("A", ""), ("B", "x")].into_iter().collect();
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
    }
}
