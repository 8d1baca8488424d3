//! Shared start-up steps of the subcommands: configuration, state directories, the
//! timeline, and the tool registry as the configuration describes it.

use std::path::Path;
use std::process::ExitCode;

use kafclaw_config::{Config, LoadedConfig};
use kafclaw_timeline::{Timeline, TimelineOptions};

/// Loads the configuration; on a bad file or environment value prints the error (which
/// names the key) and returns the usage exit code.
pub(crate) fn load_config() -> Result<LoadedConfig, ExitCode> {
    match Config::load() {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("kafclaw: warning: {w}");
            }
            Ok(loaded)
        }
        Err(e) => {
            eprintln!("kafclaw: configuration error: {e}");
            Err(ExitCode::from(crate::EXIT_USAGE))
        }
    }
}

/// Creates a private state directory (0700) if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| anyhow::anyhow!("cannot set permissions of {}: {e}", dir.display()))?;
    Ok(())
}

/// Opens the agent's timeline database under `KAFCLAW_HOME`.
pub(crate) async fn open_timeline(loaded: &LoadedConfig) -> anyhow::Result<Timeline> {
    loaded
        .paths
        .ensure_home()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Timeline::open(TimelineOptions::new(&loaded.paths.timeline_db))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the timeline {}: {e}",
                loaded.paths.timeline_db.display()
            )
        })
}

/// The sandbox configuration of the tools: roots are the work repo and the workspace
/// (created when missing), limits from `tools.exec` and `tools.web.fetch`.
pub(crate) fn tools_config(loaded: &LoadedConfig) -> anyhow::Result<kafclaw_tools::ToolsConfig> {
    let paths = &loaded.paths;
    ensure_dir(&paths.home)?;
    ensure_dir(&paths.work_repo)?;
    ensure_dir(&paths.workspace)?;
    let mut cfg = kafclaw_tools::ToolsConfig::new(&paths.work_repo, &paths.workspace);
    let exec = &loaded.config.tools.exec;
    cfg.exec.allowed_programs = exec.allow_list.clone();
    cfg.exec.deny_patterns = exec.deny_patterns.clone();
    cfg.exec.timeout_secs = exec.timeout.get().as_secs().max(1);
    cfg.exec.max_output_bytes = usize::try_from(exec.max_output_bytes).unwrap_or(usize::MAX);
    let fetch = &loaded.config.tools.web.fetch;
    cfg.web_fetch.timeout_secs = fetch.timeout.get().as_secs().max(1);
    cfg.web_fetch.max_bytes = usize::try_from(fetch.max_bytes).unwrap_or(usize::MAX);
    Ok(cfg)
}

/// Everything the agent runtime needs, built the way the configuration describes it: the
/// timeline, the built-in tools in their sandbox, the policy engine recording into the
/// timeline, and the chat chain with the timeline as its usage ledger. `kafclaw agent` and
/// `kafclaw gateway` share it, so both run under the same policy and write the same
/// timeline. An error here is a configuration or state-directory problem (exit code 2).
pub(crate) async fn build_agent_deps(
    loaded: &LoadedConfig,
) -> anyhow::Result<kafclaw_agent::AgentDeps> {
    use std::sync::Arc;
    let tools = tools_config(loaded)
        .and_then(|c| kafclaw_tools::Registry::with_builtin_tools(&c).map_err(Into::into))
        .map_err(|e| anyhow::anyhow!("cannot set up the tools: {e:#}"))?;
    let timeline = open_timeline(loaded).await?;
    let chat = kafclaw_providers::ChatChain::builder(&loaded.config)
        .ledger(Arc::new(timeline.clone()))
        .build()
        .map_err(|e| anyhow::anyhow!("model configuration: {e}"))?;
    let policy = kafclaw_policy::PolicyEngine::new(
        loaded.config.policy.to_engine_config(),
        Arc::new(timeline.clone()),
    )
    .map_err(|e| anyhow::anyhow!("policy configuration: {e}"))?;
    ensure_dir(&loaded.paths.sessions_dir)?;
    Ok(kafclaw_agent::AgentDeps {
        config: loaded.clone(),
        timeline,
        chat: Arc::new(chat),
        tools: Arc::new(tools),
        policy: Arc::new(policy),
        sessions_dir: loaded.paths.sessions_dir.clone(),
        workspace: loaded.paths.workspace.clone(),
    })
}

/// The broker connection the `group.*` keys describe (brokers, security protocol, SASL,
/// TLS files), with `client_id` as the Kafka client id. The error names the key.
pub(crate) fn kafka_settings(
    g: &kafclaw_config::GroupConfig,
    client_id: String,
) -> Result<kafclaw_group::KafkaSettings, String> {
    use kafclaw_config::SecurityProtocol;
    let protocol = match g.security_protocol() {
        SecurityProtocol::Plaintext => "PLAINTEXT",
        SecurityProtocol::Ssl => "SSL",
        SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol::SaslSsl => "SASL_SSL",
    };
    let file = |s: &str| (!s.is_empty()).then(|| s.into());
    let mut kafka = kafclaw_group::KafkaSettings::from_keys(
        &g.kafka_brokers,
        protocol,
        &g.kafka_sasl_mechanism,
        &g.kafka_sasl_username,
        g.kafka_sasl_password.expose(),
        kafclaw_group::TlsFiles {
            ca_file: file(&g.kafka_tls_ca_file),
            cert_file: file(&g.kafka_tls_cert_file),
            key_file: file(&g.kafka_tls_key_file),
        },
    )
    .map_err(|e| e.to_string())?;
    kafka.client_id = client_id;
    Ok(kafka)
}

/// The orchestrator of agent `agent_id` as `group.*` and `orchestrator.*` describe it:
/// its broker connection (client id `kafclaw-<agent>-orchestrator`) and its settings,
/// checked. The error names the key (exit code 2).
pub(crate) fn orchestrator_settings(
    loaded: &LoadedConfig,
    agent_id: &str,
) -> Result<
    (
        kafclaw_group::KafkaSettings,
        kafclaw_orchestrator::OrchestratorSettings,
    ),
    String,
> {
    let g = &loaded.config.group;
    let kafka = kafka_settings(g, format!("kafclaw-{agent_id}-orchestrator"))?;
    let mut s = kafclaw_orchestrator::OrchestratorSettings::from_config(
        &loaded.config.orchestrator,
        &g.group_name,
        agent_id,
    )
    .map_err(|e| e.to_string())?;
    s.check().map_err(|e| e.to_string())?;
    s.topic_partitions = i32::try_from(g.topic_partitions).unwrap_or(i32::MAX);
    s.replication_factor = i16::try_from(g.replication_factor).unwrap_or(i16::MAX);
    Ok((kafka, s))
}
