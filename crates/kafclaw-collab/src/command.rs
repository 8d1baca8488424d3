//! Command skills: a skill served by running a configured program instead of the model.
//! The program is checked against the exec sandbox settings (`tools.exec`: allow-list,
//! operator deny patterns, program directories), runs without a shell in the work repo
//! with a fixed environment, gets the task text on standard input, and is killed with
//! its whole process group at its timeout or the task's deadline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kafclaw_config::CommandSkill;
use kafclaw_tools::{ExecConfig, RefusalRule};
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::error::{Error, Result};

/// How much of standard error a failed command's reason keeps (its end).
const STDERR_TAIL: usize = 2000;

/// The configured command skills with the sandbox settings they run under.
#[derive(Debug, Clone)]
pub struct CommandSkills {
    skills: BTreeMap<String, CommandSkill>,
    exec: ExecConfig,
    work_dir: PathBuf,
    deny: Vec<regex::Regex>,
}

/// Why a command skill did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandFailure {
    /// The sandbox refused the program: a rule name and the reason.
    Refused { rule: &'static str, reason: String },
    /// It ran and failed (non-zero exit, signal, timeout, no output, not UTF-8).
    Failed(String),
}

impl CommandFailure {
    pub(crate) fn reason(&self) -> String {
        match self {
            CommandFailure::Refused { rule, reason } => {
                format!("refused by the sandbox: sandbox_{rule}: {reason}")
            }
            CommandFailure::Failed(reason) => reason.clone(),
        }
    }
}

impl CommandSkills {
    /// No command skills.
    pub fn none() -> Self {
        Self {
            skills: BTreeMap::new(),
            exec: ExecConfig::default(),
            work_dir: PathBuf::from("."),
            deny: Vec::new(),
        }
    }

    /// The skills of `group.commandSkills`, run under the exec settings `exec` in
    /// `work_dir` (the work repo). Refuses skill names that are not valid skill names and
    /// deny patterns that do not compile; a program that the sandbox refuses is not an
    /// error here: each task for it is refused with the reason.
    pub fn new(
        skills: BTreeMap<String, CommandSkill>,
        exec: ExecConfig,
        work_dir: impl Into<PathBuf>,
    ) -> Result<Self> {
        for (name, skill) in &skills {
            if kafclaw_envelope::SkillName::new(name.clone()).is_err() {
                return Err(Error::CommandSkill {
                    skill: name.clone(),
                    reason: "not a valid skill name (letters, digits, `_` and `-`)".into(),
                });
            }
            if skill.argv.first().is_none_or(|p| p.is_empty()) {
                return Err(Error::CommandSkill {
                    skill: name.clone(),
                    reason: "argv must name a program".into(),
                });
            }
            if skill.timeout_secs == 0 {
                return Err(Error::CommandSkill {
                    skill: name.clone(),
                    reason: "timeoutSecs must be at least 1".into(),
                });
            }
        }
        let mut deny = Vec::with_capacity(exec.deny_patterns.len());
        for (i, p) in exec.deny_patterns.iter().enumerate() {
            let re = regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| Error::ExecConfig {
                    key: format!("denyPatterns[{i}]"),
                    reason: format!("`{p}` is not a valid regular expression: {e}"),
                })?;
            deny.push(re);
        }
        Ok(Self {
            skills,
            exec,
            work_dir: work_dir.into(),
            deny,
        })
    }

    /// The skill names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.skills.keys().cloned().collect()
    }

    /// Whether `skill` is a command skill.
    pub fn contains(&self, skill: &str) -> bool {
        self.skills.contains_key(skill)
    }

    /// The program to run for `skill`, or the sandbox's refusal.
    fn check(&self, skill: &CommandSkill) -> std::result::Result<PathBuf, CommandFailure> {
        let refuse = |rule: RefusalRule, reason: String| CommandFailure::Refused {
            rule: rule.as_str(),
            reason,
        };
        let program = skill.argv.first().map(String::as_str).unwrap_or_default();
        let bare = !program.is_empty()
            && !program.starts_with(['.', '-'])
            && program
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
        if !bare {
            return Err(refuse(
                RefusalRule::ProgramNotAllowed,
                format!(
                    "program `{program}` must be a bare name from tools.exec.allowList, not a path"
                ),
            ));
        }
        if !self.exec.allowed_programs.iter().any(|p| p == program) {
            return Err(refuse(
                RefusalRule::ProgramNotAllowed,
                format!(
                    "program `{program}` is not on the exec allow-list ({})",
                    self.exec.allowed_programs.join(", ")
                ),
            ));
        }
        let line = skill.argv.join(" ");
        if let Some(re) = self.deny.iter().find(|re| re.is_match(&line)) {
            return Err(refuse(
                RefusalRule::DeniedPattern,
                format!(
                    "command matches the configured deny pattern `{}`",
                    re.as_str()
                ),
            ));
        }
        self.exec
            .path_dirs
            .iter()
            .map(|d| d.join(program))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
            .ok_or_else(|| {
                CommandFailure::Failed(format!(
                    "program `{program}` is allowed but not found in {}",
                    self.exec
                        .path_dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":")
                ))
            })
    }

    /// Runs `skill` with `input` on standard input; standard output is the answer.
    pub(crate) async fn run(
        &self,
        skill: &str,
        input: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> std::result::Result<String, CommandFailure> {
        let Some(cfg) = self.skills.get(skill) else {
            return Err(CommandFailure::Failed(format!(
                "`{skill}` is not a command skill of this agent"
            )));
        };
        let program = self.check(cfg)?;
        let mut timeout = Duration::from_secs(cfg.timeout_secs);
        if let Some(d) = deadline {
            timeout = timeout.min((d - Utc::now()).to_std().unwrap_or_default());
        }
        if timeout.is_zero() {
            return Err(CommandFailure::Failed(
                "the task's deadline passed before the command could start".into(),
            ));
        }
        let ran = run(&program, &cfg.argv[1..], self, input, timeout)
            .await
            .map_err(|e| CommandFailure::Failed(format!("cannot run `{}`: {e}", cfg.argv[0])))?;
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim_end();
            let start = text
                .char_indices()
                .map(|(i, _)| i)
                .find(|&i| text.len() - i <= STDERR_TAIL)
                .unwrap_or(text.len());
            text[start..].to_owned()
        };
        if ran.timed_out {
            return Err(CommandFailure::Failed(format!(
                "`{}` was killed after {} s (timeout); stderr: {}",
                cfg.argv[0],
                timeout.as_secs_f32(),
                tail(&ran.stderr)
            )));
        }
        match ran.code {
            Some(0) => String::from_utf8(ran.stdout).map_err(|_| {
                CommandFailure::Failed(format!("`{}` wrote output that is not UTF-8", cfg.argv[0]))
            }),
            Some(code) => Err(CommandFailure::Failed(format!(
                "`{}` exited with code {code}; stderr: {}",
                cfg.argv[0],
                tail(&ran.stderr)
            ))),
            None => Err(CommandFailure::Failed(format!(
                "`{}` was killed by a signal; stderr: {}",
                cfg.argv[0],
                tail(&ran.stderr)
            ))),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let path = std::env::join_paths(&self.exec.path_dirs)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
        vec![
            ("PATH".into(), path),
            ("HOME".into(), self.work_dir.to_string_lossy().into_owned()),
            ("LANG".into(), "C".into()),
            ("LC_ALL".into(), "C".into()),
        ]
    }
}

struct Ran {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: Option<i32>,
    timed_out: bool,
}

async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let take = cap.saturating_sub(out.len()).min(n);
                out.extend_from_slice(&buf[..take]);
            }
        }
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw)
    {
        // The group is usually gone already (ESRCH).
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

async fn run(
    program: &Path,
    args: &[String],
    skills: &CommandSkills,
    input: &str,
    timeout: Duration,
) -> std::io::Result<Ran> {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(&skills.work_dir)
        .env_clear()
        .envs(skills.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id();
    let cap = skills.exec.max_output_bytes.max(1);
    let stdin = child.stdin.take();
    let input = input.as_bytes().to_vec();
    let feed = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            // A command that does not read its input closes the pipe: not an error.
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        }
    });
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = tokio::spawn(async move {
        match stdout {
            Some(s) => read_capped(s, cap).await,
            None => Vec::new(),
        }
    });
    let err = tokio::spawn(async move {
        match stderr {
            Some(s) => read_capped(s, cap).await,
            None => Vec::new(),
        }
    });
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            kill_group(pid);
            (child.wait().await.ok(), true)
        }
    };
    kill_group(pid);
    feed.abort();
    let grace = Duration::from_secs(5);
    let stdout = tokio::time::timeout(grace, out)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    let stderr = tokio::time::timeout(grace, err)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    Ok(Ran {
        stdout,
        stderr,
        code: status.and_then(|s| s.code()),
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skills(argv: &[&str], allowed: &[&str], dir: &Path) -> CommandSkills {
        let mut map = BTreeMap::new();
        map.insert(
            "s".to_owned(),
            CommandSkill {
                argv: argv.iter().map(|a| (*a).to_owned()).collect(),
                timeout_secs: 10,
            },
        );
        let exec = ExecConfig {
            allowed_programs: allowed.iter().map(|a| (*a).to_owned()).collect(),
            deny_patterns: vec!["secret".into()],
            ..ExecConfig::default()
        };
        CommandSkills::new(map, exec, dir).unwrap()
    }

    #[tokio::test]
    async fn stdin_in_stdout_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = skills(&["tr", "a-z", "A-Z"], &["tr"], dir.path());
        assert_eq!(s.run("s", "hello", None).await, Ok("HELLO".to_owned()));
    }

    #[tokio::test]
    async fn a_program_off_the_allow_list_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = skills(&["tr", "a-z", "A-Z"], &["cat"], dir.path());
        let e = s.run("s", "x", None).await.unwrap_err();
        assert!(
            matches!(&e, CommandFailure::Refused { rule: "program_not_allowed", reason } if reason.contains("`tr` is not on the exec allow-list")),
            "{e:?}"
        );
        let s = skills(&["/bin/cat"], &["cat"], dir.path());
        assert!(
            s.run("s", "x", None)
                .await
                .unwrap_err()
                .reason()
                .contains("bare name")
        );
        let s = skills(&["cat", "secret"], &["cat"], dir.path());
        assert!(
            s.run("s", "x", None)
                .await
                .unwrap_err()
                .reason()
                .contains("sandbox_denied_pattern")
        );
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_exit_code_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let s = skills(&["ls", "no-such-file"], &["ls"], dir.path());
        let e = s.run("s", "", None).await.unwrap_err().reason();
        assert!(
            e.contains("exited with code") && e.contains("no-such-file"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_command_past_its_time_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let s = skills(&["sleep", "30"], &["sleep"], dir.path());
        let deadline = Utc::now() + chrono::Duration::milliseconds(300);
        let e = s.run("s", "", Some(deadline)).await.unwrap_err().reason();
        assert!(e.contains("timeout"), "{e}");
    }

    #[test]
    fn bad_configuration_names_the_key() {
        let mut map = BTreeMap::new();
        map.insert("web.search".to_owned(), CommandSkill::default());
        let e = CommandSkills::new(map, ExecConfig::default(), ".").unwrap_err();
        assert!(
            e.to_string().starts_with("group.commandSkills.web.search"),
            "{e}"
        );
        let exec = ExecConfig {
            deny_patterns: vec!["(".into()],
            ..ExecConfig::default()
        };
        let e = CommandSkills::new(BTreeMap::new(), exec, ".").unwrap_err();
        assert!(e.to_string().contains("tools.exec.denyPatterns[0]"), "{e}");
    }
}
