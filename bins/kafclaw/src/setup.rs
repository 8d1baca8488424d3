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
