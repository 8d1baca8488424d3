//! `exec`: run one allow-listed program with checked arguments, without a shell.

mod args;
mod deny;
mod parse;
mod run;
mod sed;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kafclaw_policy::ToolTier;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::ExecConfig;
use crate::error::{Error, Refusal, RefusalRule, Result};
use crate::fs::{Located, Roots, Strictness};
use crate::tool::{Tool, ToolContext, ToolOutput};

const TOOL: &str = "exec";

/// The `exec` tool (tier 2).
#[derive(Debug, Clone)]
pub struct ExecTool {
    roots: Arc<Roots>,
    cfg: ExecConfig,
    allowed: BTreeSet<String>,
    extra_deny: Vec<regex::Regex>,
    description: String,
}

#[derive(Deserialize)]
struct ExecArgs {
    command: String,
    working_dir: Option<String>,
}

/// A checked command, ready to run.
struct Plan {
    spec: run::RunSpec,
    argv0: String,
}

fn bare_program_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
        && !name.starts_with(['.', '-'])
}

impl ExecTool {
    /// An exec tool confined to `roots`, with the allow-list and limits of `cfg`.
    pub fn new(roots: Arc<Roots>, cfg: ExecConfig) -> Result<Self> {
        for (i, p) in cfg.allowed_programs.iter().enumerate() {
            if !bare_program_name(p) {
                return Err(Error::Config {
                    key: format!("exec.allowedPrograms[{i}]"),
                    problem: format!("`{p}` must be a bare program name, not a path"),
                });
            }
        }
        for (i, d) in cfg.path_dirs.iter().enumerate() {
            if !d.is_absolute() {
                return Err(Error::Config {
                    key: format!("exec.pathDirs[{i}]"),
                    problem: format!("`{}` is not absolute", d.display()),
                });
            }
        }
        if cfg.timeout_secs == 0 {
            return Err(Error::Config {
                key: "exec.timeoutSecs".into(),
                problem: "must be at least 1".into(),
            });
        }
        let mut extra_deny = Vec::with_capacity(cfg.deny_patterns.len());
        for (i, p) in cfg.deny_patterns.iter().enumerate() {
            let re = regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| Error::Config {
                    key: format!("exec.denyPatterns[{i}]"),
                    problem: format!("`{p}` is not a valid regular expression: {e}"),
                })?;
            extra_deny.push(re);
        }
        let allowed: BTreeSet<String> = cfg.allowed_programs.iter().cloned().collect();
        let description = format!(
            "Run one program without a shell: `command` is split into words (single and double quotes work; `;`, `&&`, `|`, `$`, backticks, redirections, globs and newlines are refused). Allowed programs: {}. Path arguments must stay inside the work repo or workspace. Runs in `working_dir` (default: the work repo), times out after {} s, output is capped.",
            allowed.iter().cloned().collect::<Vec<_>>().join(", "),
            cfg.timeout_secs
        );
        Ok(Self {
            roots,
            cfg,
            allowed,
            extra_deny,
            description,
        })
    }

    fn refuse(r: Refusal) -> Error {
        Error::refused(TOOL, r)
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        self.cfg
            .path_dirs
            .iter()
            .map(|d| d.join(name))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    }

    fn env(&self, home: &Path) -> Vec<(String, String)> {
        let path = std::env::join_paths(&self.cfg.path_dirs)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
        let ceilings: Vec<OsString> = self
            .roots
            .list()
            .filter_map(|(_, p)| p.parent().map(|p| p.as_os_str().to_owned()))
            .collect();
        let ceilings = std::env::join_paths(ceilings)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), path),
            ("HOME".into(), home.to_string_lossy().into_owned()),
            ("LANG".into(), "C".into()),
            ("LC_ALL".into(), "C".into()),
            // git: no system/global config, no prompts, no pager, no editor, and no
            // repository discovery above the roots.
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_PAGER".into(), "cat".into()),
            ("PAGER".into(), "cat".into()),
            ("GIT_EDITOR".into(), "true".into()),
            ("GIT_SEQUENCE_EDITOR".into(), "true".into()),
            ("GIT_CEILING_DIRECTORIES".into(), ceilings),
        ];
        // Command-line scope config outranks the repository's own config.
        let forced: &[(&str, &str)] = &[
            ("core.hooksPath", "/dev/null"),
            ("core.fsmonitor", "false"),
            ("core.pager", "cat"),
            ("core.editor", "true"),
            ("core.sshCommand", "false"),
            ("protocol.allow", "never"),
            ("credential.helper", ""),
            ("gpg.program", "false"),
        ];
        env.push(("GIT_CONFIG_COUNT".into(), forced.len().to_string()));
        for (i, (k, v)) in forced.iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), (*k).to_owned()));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), (*v).to_owned()));
        }
        env
    }

    /// Parse and check a command; nothing runs.
    fn plan(&self, command: &str, working_dir: Option<&str>) -> Result<Plan> {
        let argv = parse::split(command).map_err(Self::refuse)?;
        let argv0 = argv[0].clone();
        if argv0.contains('=') {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::ProgramNotAllowed,
                format!(
                    "`{argv0}` is an environment assignment; commands run with a fixed environment"
                ),
            )));
        }
        if argv0.contains('/') {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::ProgramNotAllowed,
                format!("program `{argv0}` must be a bare name from the allow-list, not a path"),
            )));
        }
        deny::check(&argv).map_err(Self::refuse)?;
        let line = argv.join(" ");
        if let Some(re) = self.extra_deny.iter().find(|re| re.is_match(&line)) {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::DeniedPattern,
                format!(
                    "command matches the configured deny pattern `{}`",
                    re.as_str()
                ),
            )));
        }
        if !self.allowed.contains(&argv0) {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::ProgramNotAllowed,
                format!(
                    "program `{argv0}` is not on the allow-list ({})",
                    self.allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            )));
        }

        let wd_input = working_dir.unwrap_or(".");
        let located = self
            .roots
            .locate(wd_input, Strictness::Strict)
            .map_err(Self::refuse)?;
        let canon = located
            .root
            .dir
            .canonicalize(located.cap_path())
            .map_err(|e| crate::fs::map_io(TOOL, wd_input, located.root, e))?;
        if !located.root.dir.is_dir(&canon) {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::NotRegularFile,
                format!("working_dir `{wd_input}` is not a directory"),
            )));
        }
        let base = Located::canonical(located.root, canon.clone());
        let cwd = located.root.real.join(&canon);

        let scope = args::PathScope {
            roots: &self.roots,
            base: &base,
        };
        let args = args::check(&argv0, &argv[1..], &scope).map_err(Self::refuse)?;

        let program = self.find_program(&argv0).ok_or_else(|| Error::Spawn {
            tool: TOOL.into(),
            program: argv0.clone(),
            problem: format!(
                "allowed, but not found in {}",
                self.cfg
                    .path_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            ),
        })?;
        let home = self
            .roots
            .list()
            .find(|(n, _)| *n == "workspace")
            .or_else(|| self.roots.list().next())
            .map(|(_, p)| p.to_path_buf())
            .unwrap_or_else(|| cwd.clone());
        Ok(Plan {
            spec: run::RunSpec {
                program,
                args,
                cwd,
                env: self.env(&home),
                timeout: Duration::from_secs(self.cfg.timeout_secs),
                max_output: self.cfg.max_output_bytes,
            },
            argv0,
        })
    }
}

fn render(result: &run::RunResult, timeout: Duration) -> ToolOutput {
    let mut content = String::new();
    let mut truncated = false;
    let mut section = |label: Option<&str>, c: &run::Captured| {
        if c.bytes.is_empty() && c.dropped == 0 {
            return;
        }
        if let Some(l) = label {
            content.push_str(l);
            content.push('\n');
        }
        content.push_str(&String::from_utf8_lossy(&c.bytes));
        if c.dropped > 0 {
            truncated = true;
            if !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(&format!(
                "[output truncated: {} bytes omitted]\n",
                c.dropped
            ));
        }
    };
    section(None, &result.stdout);
    section(Some("[stderr]"), &result.stderr);
    if !content.is_empty() && !content.ends_with('\n') {
        content.push('\n');
    }
    let failed = if result.timed_out {
        content.push_str(&format!(
            "[timed out after {} s; the process group was killed]",
            timeout.as_secs()
        ));
        true
    } else {
        match result.code {
            Some(0) => {
                content.push_str("[exit code 0]");
                false
            }
            Some(c) => {
                content.push_str(&format!("[exit code {c}]"));
                true
            }
            None => {
                content.push_str("[killed by a signal]");
                true
            }
        }
    };
    ToolOutput::text(content)
        .with_error(failed)
        .with_truncated(truncated)
}

#[async_trait]
impl Tool for ExecTool {
    fn name(&self) -> &str {
        TOOL
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "maxLength": 8192, "description": "One command line, e.g. `git log -n 5 --oneline` or `grep -rn 'TODO' src`."},
                "working_dir": {"type": "string", "minLength": 1, "description": "Directory inside the work repo or workspace (default: the work repo)."}
            },
            "required": ["command"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::HighRisk
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        let a: ExecArgs = serde_json::from_value(args).map_err(|e| Error::InvalidArgument {
            tool: TOOL.into(),
            argument: "(arguments)".into(),
            problem: e.to_string(),
        })?;
        let plan = self.plan(&a.command, a.working_dir.as_deref())?;
        let timeout = plan.spec.timeout;
        let result = run::run(plan.spec).await.map_err(|problem| Error::Spawn {
            tool: TOOL.into(),
            program: plan.argv0.clone(),
            problem,
        })?;
        tracing::debug!(program = %plan.argv0, pid = ?result.pid, code = ?result.code, timed_out = result.timed_out, "exec finished");
        Ok(render(&result, timeout))
    }
}
