//! Append-only JSONL session transcripts: one file per session, one JSON object per line.
//! Lines are only ever appended (never rewritten), a turn's lines go out in one write, and
//! reading walks the file backwards, so a long session costs no more than its recent part.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kafclaw_policy::TrustClass;
use serde::{Deserialize, Serialize};

/// Longest session key accepted (bytes); its file name stays under 255 bytes.
pub(crate) const MAX_SESSION_KEY_BYTES: usize = 80;

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EntryRole {
    /// The message that started a task.
    User,
    /// The model (tool calls, or the final answer).
    Assistant,
    /// A tool result.
    Tool,
}

/// A tool call as stored in a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EntryToolCall {
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Line number within the session (1, 2, ...).
    pub seq: u64,
    /// Number among the lines replayed as history (user messages and final answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hist: Option<u64>,
    /// The task the line belongs to.
    pub task_id: String,
    pub role: EntryRole,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<EntryToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The final answer of the task (assistant lines only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not", rename = "final")]
    pub is_final: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustClass>,
    pub time: DateTime<Utc>,
}

/// The file name of a session: bytes outside `[A-Za-z0-9_-]` (and a leading `.`) become
/// `%XX`, so distinct keys never share a file (the Go version mapped `:` and `/` to `_`).
pub(crate) fn file_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 6);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && !out.is_empty()) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(".jsonl");
    out
}

/// Checks a session key: 1 to 80 bytes, no control characters.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if key.len() > MAX_SESSION_KEY_BYTES {
        return Err(format!(
            "is {} bytes long; at most {MAX_SESSION_KEY_BYTES} are accepted",
            key.len()
        ));
    }
    if key.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(())
}

/// What a task needs from its session's transcript before a turn.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The last line number in the file (0 when empty).
    pub last_seq: u64,
    /// The last history number in the file (0 when none).
    pub last_hist: u64,
    /// Whether the task's user line is already there (a resumed task).
    pub has_user_line: bool,
    /// The task's final answer, when a previous attempt wrote it before the crash.
    pub final_answer: Option<String>,
    /// History lines of earlier tasks, oldest first, inside the window.
    pub history: Vec<Entry>,
}

/// Limits of the history replayed to the model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// At most this many messages.
    pub messages: u64,
    /// At most about this many characters.
    pub chars: usize,
}

/// The first history number inside the window, when the newest is `newest`. The start moves
/// in steps of half the window, so the replayed prefix stays byte-identical between steps
/// (provider-side prompt caching) and holds between half and all of `max` messages.
fn window_start(newest: u64, max: u64) -> u64 {
    let max = max.max(2);
    if newest <= max {
        return 1;
    }
    let step = max / 2;
    (newest - max).div_ceil(step) * step + 1
}

/// A session transcript file.
#[derive(Debug, Clone)]
pub(crate) struct SessionLog {
    path: PathBuf,
}

impl SessionLog {
    pub(crate) fn new(dir: &Path, key: &str) -> Self {
        Self {
            path: dir.join(file_name(key)),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what a turn of `task_id` needs, walking back from the end of the file.
    pub(crate) fn snapshot(&self, task_id: &str, window: Window) -> std::io::Result<Snapshot> {
        let mut snap = Snapshot::default();
        let mut start: Option<u64> = None;
        let mut chars = 0usize;
        let mut seen_any = false;
        read_back(&self.path, |e| {
            if !seen_any {
                snap.last_seq = e.seq;
                seen_any = true;
            }
            if e.task_id == task_id {
                match e.role {
                    EntryRole::User => snap.has_user_line = true,
                    EntryRole::Assistant if e.is_final => {
                        snap.final_answer.get_or_insert(e.content.clone());
                    }
                    _ => {}
                }
                if let Some(h) = e.hist {
                    snap.last_hist = snap.last_hist.max(h);
                }
                return ControlFlow::Continue(());
            }
            let Some(h) = e.hist else {
                return ControlFlow::Continue(());
            };
            snap.last_hist = snap.last_hist.max(h);
            let s = *start.get_or_insert_with(|| window_start(h, window.messages));
            if h < s {
                return ControlFlow::Break(());
            }
            chars += e.content.len();
            snap.history.push(e);
            ControlFlow::Continue(())
        })?;
        snap.history.reverse();
        // Over the character budget: drop whole steps from the front, so the cut stays at
        // the same place for the same file.
        let step = (window.messages.max(2) / 2) as usize;
        while chars > window.chars && snap.history.len() > step {
            for e in snap.history.drain(..step) {
                chars -= e.content.len();
            }
        }
        // Replay starts with a user message.
        while snap
            .history
            .first()
            .is_some_and(|e| e.role != EntryRole::User)
        {
            snap.history.remove(0);
        }
        Ok(snap)
    }

    /// Appends lines in one `write`. A torn last line from a crash is closed first, so it
    /// never merges with the new lines.
    ///
    /// There is no `fdatasync`: a finished `write` survives a crash of the process (the
    /// kernel holds it), which is the crash the resume logic handles. The timeline, which
    /// holds the task and its answer, commits with `synchronous=NORMAL` and so gives the
    /// same guarantee; syncing the transcript alone would not make the turn survive a
    /// power loss. What a power loss may cost is the newest lines of a session (the
    /// history then lacks those turns; a torn line is skipped), never an accepted task.
    pub(crate) fn append(&self, entries: &[Entry]) -> std::io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut open = OpenOptions::new();
        open.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut file = open.open(&self.path)?;
        let len = file.metadata()?.len();
        let mut buf = Vec::new();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                buf.push(b'\n');
            }
        }
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)
    }
}

/// Calls `visit` with the file's lines from the last to the first until it breaks. Lines
/// that are not valid entries (a write torn by a crash) are skipped with a warning. A
/// missing file has no lines.
fn read_back(path: &Path, mut visit: impl FnMut(Entry) -> ControlFlow<()>) -> std::io::Result<()> {
    const CHUNK: u64 = 64 * 1024;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut pos = file.metadata()?.len();
    let mut carry: Vec<u8> = Vec::new();
    let mut handle = |line: &[u8]| -> ControlFlow<()> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return ControlFlow::Continue(());
        }
        match serde_json::from_str::<Entry>(text) {
            Ok(e) => visit(e),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "skipping an unreadable session line");
                ControlFlow::Continue(())
            }
        }
    };
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK);
        let size = usize::try_from(pos - start).map_err(std::io::Error::other)?;
        let mut buf = vec![0u8; size];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        buf.extend_from_slice(&carry);
        let mut lines: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
        // The first piece may continue in the previous chunk, unless this is the start.
        let first = lines.remove(0);
        for line in lines.iter().rev() {
            if handle(line).is_break() {
                return Ok(());
            }
        }
        carry = first.to_vec();
        pos = start;
    }
    let _ = handle(&carry);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, hist: Option<u64>, task: &str, role: EntryRole, text: &str) -> Entry {
        Entry {
            seq,
            hist,
            task_id: task.into(),
            role,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_final: role == EntryRole::Assistant && hist.is_some(),
            sender: None,
            channel: None,
            trust: None,
            time: Utc::now(),
        }
    }

    const WIDE: Window = Window {
        messages: 50,
        chars: 1 << 20,
    };

    #[test]
    fn file_names_are_injective_and_safe() {
        assert_eq!(file_name("cli:default"), "cli%3Adefault.jsonl");
        assert_ne!(file_name("a:b"), file_name("a_b"));
        assert_ne!(file_name("a/b"), file_name("a_b"));
        assert_eq!(file_name(".."), "%2E..jsonl");
        assert!(!file_name("../../etc/passwd").contains('/'));
        let long = "x:".repeat(40);
        assert!(file_name(&long).len() < 255);
        assert!(check_key(&long).is_ok());
        assert!(check_key(&"x".repeat(81)).is_err());
        assert!(check_key("a\nb").is_err());
        assert!(check_key(" ").is_err());
    }

    #[test]
    fn the_window_moves_in_half_steps() {
        assert_eq!(window_start(10, 50), 1);
        assert_eq!(window_start(50, 50), 1);
        assert_eq!(window_start(51, 50), 26);
        assert_eq!(window_start(75, 50), 26);
        assert_eq!(window_start(76, 50), 51);
        for n in 51..400 {
            let kept = n - window_start(n, 50) + 1;
            assert!((26..=50).contains(&kept), "{n}: {kept}");
        }
    }

    #[test]
    fn snapshot_finds_the_tasks_lines_and_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let log = SessionLog::new(dir.path(), "s");
        let mut lines = Vec::new();
        let mut seq = 0;
        for i in 1..=60u64 {
            let task = format!("t{i}");
            seq += 1;
            lines.push(entry(seq, Some(2 * i - 1), &task, EntryRole::User, "q"));
            seq += 1;
            lines.push(entry(seq, None, &task, EntryRole::Tool, "tool output"));
            seq += 1;
            lines.push(entry(seq, Some(2 * i), &task, EntryRole::Assistant, "a"));
        }
        log.append(&lines).unwrap();
        log.append(&[entry(seq + 1, Some(121), "now", EntryRole::User, "current")])
            .unwrap();
        let snap = log.snapshot("now", WIDE).unwrap();
        assert_eq!(snap.last_seq, seq + 1);
        assert_eq!(snap.last_hist, 121);
        assert!(snap.has_user_line);
        assert_eq!(snap.final_answer, None);
        // newest earlier history number 120 → the window starts at 76, an answer, so the
        // replay starts at the question after it
        assert_eq!(snap.history.first().unwrap().hist, Some(77));
        assert_eq!(snap.history.last().unwrap().hist, Some(120));
        assert_eq!(snap.history.len(), 44);
        assert!(snap.history.iter().all(|e| e.role != EntryRole::Tool));

        let fresh = log.snapshot("other", WIDE).unwrap();
        assert!(!fresh.has_user_line);
        assert_eq!(fresh.history.last().unwrap().content, "current");
    }

    #[test]
    fn a_torn_line_is_skipped_and_closed_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = SessionLog::new(dir.path(), "s");
        log.append(&[entry(1, Some(1), "t1", EntryRole::User, "hello")])
            .unwrap();
        // a crash in the middle of a write
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(br#"{"seq":2,"task_id":"t1","role":"assi"#)
            .unwrap();
        log.append(&[entry(2, Some(2), "t1", EntryRole::Assistant, "hi")])
            .unwrap();
        let snap = log.snapshot("t1", WIDE).unwrap();
        assert_eq!(snap.final_answer.as_deref(), Some("hi"));
        assert!(snap.has_user_line);
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn lines_longer_than_a_read_chunk_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let log = SessionLog::new(dir.path(), "s");
        let big = "x".repeat(200 * 1024);
        log.append(&[
            entry(1, Some(1), "t1", EntryRole::User, &big),
            entry(2, Some(2), "t1", EntryRole::Assistant, "ok"),
        ])
        .unwrap();
        let snap = log.snapshot("t2", WIDE).unwrap();
        assert_eq!(snap.history.len(), 2);
        assert_eq!(snap.history[0].content.len(), big.len());
    }

    #[test]
    fn the_character_budget_drops_whole_steps() {
        let dir = tempfile::tempdir().unwrap();
        let log = SessionLog::new(dir.path(), "s");
        let lines: Vec<Entry> = (1..=10u64)
            .map(|i| {
                let role = if i % 2 == 1 {
                    EntryRole::User
                } else {
                    EntryRole::Assistant
                };
                entry(
                    i,
                    Some(i),
                    &format!("t{}", i.div_ceil(2)),
                    role,
                    &"y".repeat(100),
                )
            })
            .collect();
        log.append(&lines).unwrap();
        let snap = log
            .snapshot(
                "t9",
                Window {
                    messages: 10,
                    chars: 450,
                },
            )
            .unwrap();
        // steps of 5: 10 messages (1000 chars) → the last 5 (still over, but one step is
        // the least kept) → the leading answer dropped
        assert_eq!(snap.history.len(), 4);
        assert_eq!(
            snap.history[0].role,
            EntryRole::User,
            "replay starts with a user message"
        );
    }

    #[test]
    #[cfg(unix)]
    fn transcripts_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = SessionLog::new(dir.path(), "s");
        log.append(&[entry(1, Some(1), "t", EntryRole::User, "x")])
            .unwrap();
        let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
