//! The filesystem tools: read_file, list_dir, write_file, edit_file, resolve_path.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::{OpenOptions, OpenOptionsExt};
use kafclaw_policy::ToolTier;
use rustix::fs::OFlags;
use serde::Deserialize;
use serde_json::{Value, json};

use super::roots::{Located, Roots, Strictness, io_refusal, map_io, physical_check};
use crate::config::FsConfig;
use crate::error::{Error, Refusal, RefusalRule, Result};
use crate::tool::{Tool, ToolContext, ToolOutput};

fn parse_args<T: for<'de> Deserialize<'de>>(tool: &str, args: Value) -> Result<T> {
    serde_json::from_value(args).map_err(|e| Error::InvalidArgument {
        tool: tool.to_owned(),
        argument: "(arguments)".into(),
        problem: e.to_string(),
    })
}

async fn blocking<T: Send + 'static>(
    tool: &'static str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            tool: tool.to_owned(),
            path: String::new(),
            source: std::io::Error::other(format!("filesystem task failed: {e}")),
        })?
}

/// Both stages of the check. Every open afterwards goes through the root handle
/// again, so this is for clear refusals, not the guarantee itself.
fn locate<'a>(tool: &str, roots: &'a Roots, path: &str) -> Result<Located<'a>> {
    let located = roots
        .locate(path, Strictness::Strict)
        .map_err(|r| Error::refused(tool, r))?;
    physical_check(&located)
        .map_err(|e| Error::refused(tool, io_refusal(path, located.root, &e)))?;
    Ok(located)
}

/// Flags for every open: never block on a FIFO, never acquire a controlling terminal.
fn safe_flags() -> i32 {
    (OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32
}

fn is_git_dir(c: Component<'_>) -> bool {
    matches!(c, Component::Normal(n) if n.to_str().is_some_and(|s| s.eq_ignore_ascii_case(".git")))
}

/// Refuse writes to the root itself and into `.git` (hooks and config there run code).
fn check_writable(tool: &str, input: &str, located: &Located<'_>) -> Result<()> {
    if located.is_root() {
        return Err(Error::refused(
            tool,
            Refusal::new(
                RefusalRule::ProtectedPath,
                format!(
                    "path `{input}` names the root `{}` itself, not a file",
                    located.root.name
                ),
            ),
        ));
    }
    if located.rel.components().any(is_git_dir) {
        return Err(git_refusal(tool, input));
    }
    Ok(())
}

fn git_refusal(tool: &str, input: &str) -> Error {
    Error::refused(
        tool,
        Refusal::new(
            RefusalRule::ProtectedPath,
            format!(
                "path `{input}` is inside a `.git` directory; writing there (hooks, config) could make git run code"
            ),
        ),
    )
}

/// Canonical (symlink-free, root-relative) location a write will land on, checked
/// again for `.git` so that a symlink inside the root cannot redirect a write there.
fn write_target(tool: &str, input: &str, located: &Located<'_>) -> Result<PathBuf> {
    let dir = &located.root.dir;
    let target = match dir.canonicalize(located.cap_path()) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = located.rel.parent().unwrap_or(Path::new(""));
            let name = located.rel.file_name().ok_or_else(|| {
                Error::refused(
                    tool,
                    Refusal::new(
                        RefusalRule::PathSyntax,
                        format!("path `{input}` does not end in a file name"),
                    ),
                )
            })?;
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            let canon_parent = dir
                .canonicalize(parent)
                .map_err(|e| map_io(tool, input, located.root, e))?;
            canon_parent.join(name)
        }
        Err(e) => return Err(map_io(tool, input, located.root, e)),
    };
    if target.components().any(is_git_dir) {
        return Err(git_refusal(tool, input));
    }
    if target.as_os_str().is_empty() || target == Path::new(".") {
        return Err(Error::refused(
            tool,
            Refusal::new(
                RefusalRule::ProtectedPath,
                format!("path `{input}` resolves to the root itself"),
            ),
        ));
    }
    Ok(target)
}

fn too_large(tool: &str, what: String) -> Error {
    Error::refused(tool, Refusal::new(RefusalRule::TooLarge, what))
}

/// Read a whole (capped) regular file through the root handle.
fn read_capped(
    tool: &str,
    input: &str,
    located: &Located<'_>,
    rel: &Path,
    cap: u64,
) -> Result<Vec<u8>> {
    let root = located.root;
    let mut opts = OpenOptions::new();
    opts.read(true).custom_flags(safe_flags());
    let file = root
        .dir
        .open_with(rel, &opts)
        .map_err(|e| map_io(tool, input, root, e))?;
    let meta = file.metadata().map_err(|e| map_io(tool, input, root, e))?;
    if !meta.is_file() {
        return Err(not_regular(tool, input, meta.is_dir()));
    }
    if meta.len() > cap {
        return Err(too_large(
            tool,
            format!(
                "file `{input}` is {} bytes, more than the {cap}-byte limit",
                meta.len()
            ),
        ));
    }
    let mut buf = Vec::new();
    file.into_std()
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| map_io(tool, input, root, e))?;
    if buf.len() as u64 > cap {
        return Err(too_large(
            tool,
            format!("file `{input}` grew beyond the {cap}-byte limit while reading"),
        ));
    }
    Ok(buf)
}

fn not_regular(tool: &str, input: &str, is_dir: bool) -> Error {
    let what = if is_dir {
        format!("`{input}` is a directory; use list_dir")
    } else {
        format!("`{input}` is not a regular file (device, FIFO or socket)")
    };
    Error::refused(tool, Refusal::new(RefusalRule::NotRegularFile, what))
}

/// Write `content` to the canonical target (created with mode 0644).
fn write_to(
    tool: &str,
    input: &str,
    located: &Located<'_>,
    target: &Path,
    content: &[u8],
) -> Result<()> {
    let root = located.root;
    if let Ok(meta) = root.dir.symlink_metadata(target)
        && !meta.is_file()
    {
        return Err(not_regular(tool, input, meta.is_dir()));
    }
    let mut opts = OpenOptions::new();
    opts.write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(safe_flags() | OFlags::NOFOLLOW.bits() as i32);
    let file = root
        .dir
        .open_with(target, &opts)
        .map_err(|e| map_io(tool, input, root, e))?;
    let mut file = file.into_std();
    file.write_all(content)
        .and_then(|()| file.flush())
        .map_err(|e| map_io(tool, input, root, e))
}

// ---------------------------------------------------------------- read_file

/// `read_file {path, offset?, max_bytes?}` (tier 0).
#[derive(Debug, Clone)]
pub struct ReadFileTool {
    roots: Arc<Roots>,
    cfg: FsConfig,
}

impl ReadFileTool {
    /// A read_file tool over `roots`.
    pub fn new(roots: Arc<Roots>, cfg: FsConfig) -> Self {
        Self { roots, cfg }
    }
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    #[serde(default)]
    offset: u64,
    max_bytes: Option<u64>,
}

#[async_trait]
impl Tool for ReadFileTool {
    fn name(&self) -> &str {
        "read_file"
    }
    fn description(&self) -> &str {
        "Read a text file inside the work repo or workspace. Relative paths are relative to the work repo. Large files are returned in slices: pass `offset` to continue."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path (relative to the work repo, or absolute inside a root)."},
                "offset": {"type": "integer", "minimum": 0, "description": "Byte offset to start at (default 0)."},
                "max_bytes": {"type": "integer", "minimum": 1, "description": "Most bytes to return (capped by configuration)."}
            },
            "required": ["path"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::ReadOnly
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        const TOOL: &str = "read_file";
        let a: ReadArgs = parse_args(TOOL, args)?;
        let roots = self.roots.clone();
        let cap = a
            .max_bytes
            .unwrap_or(self.cfg.max_read_bytes)
            .min(self.cfg.max_read_bytes);
        blocking(TOOL, move || {
            let located = locate(TOOL, &roots, &a.path)?;
            let root = located.root;
            let mut opts = OpenOptions::new();
            opts.read(true).custom_flags(safe_flags());
            let file = root
                .dir
                .open_with(located.cap_path(), &opts)
                .map_err(|e| map_io(TOOL, &a.path, root, e))?;
            let meta = file
                .metadata()
                .map_err(|e| map_io(TOOL, &a.path, root, e))?;
            if !meta.is_file() {
                return Err(not_regular(TOOL, &a.path, meta.is_dir()));
            }
            let size = meta.len();
            let mut file = file.into_std();
            file.seek(SeekFrom::Start(a.offset))
                .map_err(|e| map_io(TOOL, &a.path, root, e))?;
            let mut buf = Vec::new();
            (&mut file)
                .take(cap)
                .read_to_end(&mut buf)
                .map_err(|e| map_io(TOOL, &a.path, root, e))?;
            let end = a.offset.saturating_add(buf.len() as u64);
            if buf.iter().take(8192).any(|b| *b == 0) {
                return Ok(ToolOutput::text(format!(
                    "[binary file `{}`, {size} bytes; not shown]",
                    a.path
                )));
            }
            let mut content = String::from_utf8_lossy(&buf).into_owned();
            let truncated = end < size;
            if truncated {
                content.push_str(&format!(
                    "\n[truncated: showed bytes {}..{end} of {size}; call again with offset={end}]",
                    a.offset
                ));
            }
            Ok(ToolOutput::text(content).with_truncated(truncated))
        })
        .await
    }
}

// ---------------------------------------------------------------- list_dir

/// `list_dir {path?}` (tier 0).
#[derive(Debug, Clone)]
pub struct ListDirTool {
    roots: Arc<Roots>,
    cfg: FsConfig,
}

impl ListDirTool {
    /// A list_dir tool over `roots`.
    pub fn new(roots: Arc<Roots>, cfg: FsConfig) -> Self {
        Self { roots, cfg }
    }
}

#[derive(Deserialize)]
struct ListArgs {
    #[serde(default = "dot")]
    path: String,
}

fn dot() -> String {
    ".".to_owned()
}

#[async_trait]
impl Tool for ListDirTool {
    fn name(&self) -> &str {
        "list_dir"
    }
    fn description(&self) -> &str {
        "List a directory inside the work repo or workspace, sorted by name. Directories end in `/`, symlinks are marked with `@`."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Directory (default: the work repo)."}
            },
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::ReadOnly
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        const TOOL: &str = "list_dir";
        let a: ListArgs = parse_args(TOOL, args)?;
        let roots = self.roots.clone();
        let max = self.cfg.max_list_entries;
        blocking(TOOL, move || {
            let located = locate(TOOL, &roots, &a.path)?;
            let root = located.root;
            let dir = root
                .dir
                .open_dir(located.cap_path())
                .map_err(|e| map_io(TOOL, &a.path, root, e))?;
            let mut entries = Vec::new();
            for entry in dir.entries().map_err(|e| map_io(TOOL, &a.path, root, e))? {
                let entry = entry.map_err(|e| map_io(TOOL, &a.path, root, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let line = match entry.file_type() {
                    Ok(t) if t.is_dir() => format!("{name}/"),
                    Ok(t) if t.is_symlink() => format!("{name}@"),
                    Ok(t) if t.is_file() => {
                        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                        format!("{name}\t{len}")
                    }
                    _ => format!("{name}\t(special)"),
                };
                entries.push((name, line));
            }
            entries.sort();
            let total = entries.len();
            let truncated = total > max;
            let mut content: String = entries
                .into_iter()
                .take(max)
                .map(|(_, l)| l + "\n")
                .collect();
            if truncated {
                content.push_str(&format!("[truncated: {max} of {total} entries shown]\n"));
            }
            if content.is_empty() {
                content.push_str("(empty directory)\n");
            }
            Ok(ToolOutput::text(content).with_truncated(truncated))
        })
        .await
    }
}

// ---------------------------------------------------------------- write_file

/// `write_file {path, content}` (tier 1).
#[derive(Debug, Clone)]
pub struct WriteFileTool {
    roots: Arc<Roots>,
    cfg: FsConfig,
}

impl WriteFileTool {
    /// A write_file tool over `roots`.
    pub fn new(roots: Arc<Roots>, cfg: FsConfig) -> Self {
        Self { roots, cfg }
    }
}

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
}

#[async_trait]
impl Tool for WriteFileTool {
    fn name(&self) -> &str {
        "write_file"
    }
    fn description(&self) -> &str {
        "Create or overwrite a text file inside the work repo or workspace, creating missing parent directories inside the root. Writing into `.git` is refused."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path (relative to the work repo, or absolute inside a root)."},
                "content": {"type": "string", "description": "The complete new content."}
            },
            "required": ["path", "content"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::Write
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        const TOOL: &str = "write_file";
        let a: WriteArgs = parse_args(TOOL, args)?;
        let roots = self.roots.clone();
        let cap = self.cfg.max_write_bytes;
        blocking(TOOL, move || {
            let located = locate(TOOL, &roots, &a.path)?;
            check_writable(TOOL, &a.path, &located)?;
            if a.content.len() as u64 > cap {
                return Err(too_large(
                    TOOL,
                    format!(
                        "content for `{}` is {} bytes, more than the {cap}-byte limit",
                        a.path,
                        a.content.len()
                    ),
                ));
            }
            let root = located.root;
            if let Some(parent) = located.rel.parent()
                && !parent.as_os_str().is_empty()
            {
                root.dir
                    .create_dir_all(parent)
                    .map_err(|e| map_io(TOOL, &a.path, root, e))?;
            }
            let target = write_target(TOOL, &a.path, &located)?;
            write_to(TOOL, &a.path, &located, &target, a.content.as_bytes())?;
            Ok(ToolOutput::text(format!(
                "wrote {} bytes to {}",
                a.content.len(),
                root.real.join(&target).display()
            )))
        })
        .await
    }
}

// ---------------------------------------------------------------- edit_file

/// `edit_file {path, old_text, new_text}` (tier 1): replaces exactly one occurrence.
#[derive(Debug, Clone)]
pub struct EditFileTool {
    roots: Arc<Roots>,
    cfg: FsConfig,
}

impl EditFileTool {
    /// An edit_file tool over `roots`.
    pub fn new(roots: Arc<Roots>, cfg: FsConfig) -> Self {
        Self { roots, cfg }
    }
}

#[derive(Deserialize)]
struct EditArgs {
    path: String,
    old_text: String,
    new_text: String,
}

#[async_trait]
impl Tool for EditFileTool {
    fn name(&self) -> &str {
        "edit_file"
    }
    fn description(&self) -> &str {
        "Replace one occurrence of `old_text` with `new_text` in a file inside the work repo or workspace. Refused when `old_text` is missing or occurs more than once: include enough surrounding text to make it unique."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path."},
                "old_text": {"type": "string", "minLength": 1, "description": "Exact text to replace; must occur exactly once."},
                "new_text": {"type": "string", "description": "Replacement text."}
            },
            "required": ["path", "old_text", "new_text"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::Write
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        const TOOL: &str = "edit_file";
        let a: EditArgs = parse_args(TOOL, args)?;
        let roots = self.roots.clone();
        let cap = self.cfg.max_write_bytes;
        blocking(TOOL, move || {
            if a.old_text.is_empty() {
                return Err(Error::InvalidArgument {
                    tool: TOOL.into(),
                    argument: "old_text".into(),
                    problem: "must not be empty".into(),
                });
            }
            let located = locate(TOOL, &roots, &a.path)?;
            check_writable(TOOL, &a.path, &located)?;
            let target = write_target(TOOL, &a.path, &located)?;
            let bytes = read_capped(TOOL, &a.path, &located, &target, cap)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::refused(
                    TOOL,
                    Refusal::new(
                        RefusalRule::NotRegularFile,
                        format!("file `{}` is not valid UTF-8 text", a.path),
                    ),
                )
            })?;
            let count = text.matches(a.old_text.as_str()).count();
            match count {
                0 => {
                    return Err(Error::refused(
                        TOOL,
                        Refusal::new(
                            RefusalRule::NoMatch,
                            format!("old_text was not found in `{}`; nothing changed", a.path),
                        ),
                    ));
                }
                1 => {}
                n => {
                    return Err(Error::refused(
                        TOOL,
                        Refusal::new(
                            RefusalRule::AmbiguousMatch,
                            format!(
                                "old_text occurs {n} times in `{}`; nothing changed — include more surrounding text so it occurs once",
                                a.path
                            ),
                        ),
                    ));
                }
            }
            let edited = text.replacen(a.old_text.as_str(), &a.new_text, 1);
            if edited.len() as u64 > cap {
                return Err(too_large(
                    TOOL,
                    format!(
                        "edited `{}` would be {} bytes, more than the {cap}-byte limit",
                        a.path,
                        edited.len()
                    ),
                ));
            }
            write_to(TOOL, &a.path, &located, &target, edited.as_bytes())?;
            Ok(ToolOutput::text(format!(
                "edited {} (1 replacement)",
                located.root.real.join(&target).display()
            )))
        })
        .await
    }
}

// ---------------------------------------------------------------- resolve_path

/// `resolve_path {kind, filename}` (tier 0): `<work repo>/<kind>/<filename>`, validated.
#[derive(Debug, Clone)]
pub struct ResolvePathTool {
    roots: Arc<Roots>,
}

impl ResolvePathTool {
    /// A resolve_path tool; uses the root named `work_repo`, else the default root.
    pub fn new(roots: Arc<Roots>) -> Self {
        Self { roots }
    }
}

#[derive(Deserialize)]
struct ResolveArgs {
    kind: String,
    filename: String,
}

fn simple_component(tool: &str, arg: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value != "."
        && value != ".."
        && !value.eq_ignore_ascii_case(".git")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::refused(
            tool,
            Refusal::new(
                RefusalRule::PathSyntax,
                format!(
                    "{arg} `{value}` must be one path component of letters, digits, `.`, `_`, `-` (not `.`, `..` or `.git`)"
                ),
            ),
        ))
    }
}

#[async_trait]
impl Tool for ResolvePathTool {
    fn name(&self) -> &str {
        "resolve_path"
    }
    fn description(&self) -> &str {
        "Return the absolute path `<work repo>/<kind>/<filename>` for a new document, after checking it stays inside the work repo. `kind` and `filename` are single path components."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "kind": {"type": "string", "minLength": 1, "maxLength": 64, "description": "Sub-directory, e.g. `docs` or `notes`."},
                "filename": {"type": "string", "minLength": 1, "maxLength": 255, "description": "File name."}
            },
            "required": ["kind", "filename"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::ReadOnly
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        const TOOL: &str = "resolve_path";
        let a: ResolveArgs = parse_args(TOOL, args)?;
        simple_component(TOOL, "kind", &a.kind)?;
        simple_component(TOOL, "filename", &a.filename)?;
        let roots = self.roots.clone();
        blocking(TOOL, move || {
            let root = roots
                .root_named("work_repo")
                .unwrap_or_else(|| roots.default_root());
            let input = root.real.join(&a.kind).join(&a.filename);
            let input = input.to_string_lossy().into_owned();
            let path = roots.check(&input).map_err(|r| Error::refused(TOOL, r))?;
            Ok(ToolOutput::text(path.to_string_lossy().into_owned()))
        })
        .await
    }
}
