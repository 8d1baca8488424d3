//! Running one program: no shell, scrubbed environment, own process group, timeout
//! that kills the whole group, capped output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct RunSpec {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) cwd: PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) max_output: usize,
}

/// What came back.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
    /// Exit code, or `None` when killed by a signal.
    pub(crate) code: Option<i32>,
    pub(crate) timed_out: bool,
    /// Process id (= process group id) of the child.
    pub(crate) pid: Option<u32>,
}

/// A capped output stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
    /// Bytes read beyond the cap and dropped.
    pub(crate) dropped: u64,
}

async fn capture<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> Captured {
    let mut out = Captured::default();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = cap.saturating_sub(out.bytes.len());
                let take = room.min(n);
                out.bytes.extend_from_slice(&buf[..take]);
                out.dropped += (n - take) as u64;
            }
        }
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw)
    {
        // ESRCH (group already gone) is the normal case after a clean exit.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Run `spec`. Errors are spawn failures (as text).
pub(crate) async fn run(spec: RunSpec) -> Result<RunResult, String> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let cap = spec.max_output;
    let mut out_task = tokio::spawn(async move {
        match stdout {
            Some(s) => capture(s, cap).await,
            None => Captured::default(),
        }
    });
    let mut err_task = tokio::spawn(async move {
        match stderr {
            Some(s) => capture(s, cap).await,
            None => Captured::default(),
        }
    });

    let (status, timed_out) = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            kill_group(pid);
            (child.wait().await.ok(), true)
        }
    };
    // Whatever the child left behind in its group (background grandchildren) goes too;
    // that also closes the pipes they inherited.
    kill_group(pid);

    let grace = Duration::from_secs(5);
    // A process that left the group (setsid) could keep a pipe open: stop reading then.
    let stdout = match tokio::time::timeout(grace, &mut out_task).await {
        Ok(Ok(c)) => c,
        _ => {
            out_task.abort();
            Captured::default()
        }
    };
    let stderr = match tokio::time::timeout(grace, &mut err_task).await {
        Ok(Ok(c)) => c,
        _ => {
            err_task.abort();
            Captured::default()
        }
    };
    Ok(RunResult {
        stdout,
        stderr,
        code: status.and_then(|s| s.code()),
        timed_out,
        pid,
    })
}
