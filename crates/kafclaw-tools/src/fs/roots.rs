//! Confinement of paths to roots.
//!
//! A path is checked in two stages. The text stage refuses what should never be a
//! path for an agent (NUL, control and invisible characters, `~`, backslashes,
//! percent-encoding, Unicode look-alikes of `.` and `/`), maps an absolute path onto
//! the root that contains it, and refuses a `..` that climbs above that root. The
//! filesystem stage never uses the path string with the ambient filesystem: every
//! open goes through a `cap_std::fs::Dir` handle of the root, which resolves the
//! path beneath the handle (Linux `openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS`, or a component-by-component `openat` walk elsewhere) and
//! fails when a symlink or `..` would leave the root. Check and open are the same
//! system call, so swapping a directory for a symlink between them gains nothing.
//! Symlinks that stay inside their root are followed.

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use unicode_normalization::UnicodeNormalization;

use crate::config::RootConfig;
use crate::error::{Error, Refusal, RefusalRule, Result};

/// The set of directories the tools are confined to, each held open as a directory
/// handle from construction on (so a root cannot be re-pointed at runtime).
#[derive(Debug)]
pub struct Roots {
    roots: Vec<Root>,
}

#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) name: String,
    configured: PathBuf,
    /// Canonical absolute path at open time (used for messages and as the
    /// child's working directory base in `exec`).
    pub(crate) real: PathBuf,
    pub(crate) dir: Dir,
}

/// A path that passed the text stage: which root, and the path relative to it
/// (`.` removed, `..` kept for the kernel to resolve beneath the root).
#[derive(Debug, Clone)]
pub(crate) struct Located<'a> {
    pub(crate) root: &'a Root,
    pub(crate) rel: PathBuf,
    /// Number of normal components minus `..` components: the lexical depth.
    depth: usize,
}

impl<'a> Located<'a> {
    /// The relative path as cap-std wants it (`.` for the root itself).
    pub(crate) fn cap_path(&self) -> &Path {
        if self.rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.rel
        }
    }

    /// A location from a canonical (symlink-free, `..`-free) relative path.
    pub(crate) fn canonical(root: &'a Root, rel: PathBuf) -> Self {
        let depth = rel
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count();
        Self { root, rel, depth }
    }

    /// Whether this names the root directory itself.
    pub(crate) fn is_root(&self) -> bool {
        self.depth == 0
    }
}

/// How strictly the text of a path is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Filesystem tools: every text rule applies.
    Strict,
    /// Arguments of `exec` programs, which may be patterns rather than paths:
    /// only `~`, absolute paths outside the roots and climbing `..` are refused.
    Argument,
}

impl Roots {
    /// Open every configured root. Each must be an existing directory; names must
    /// be unique.
    pub fn open(configs: &[RootConfig]) -> Result<Self> {
        if configs.is_empty() {
            return Err(Error::Config {
                key: "roots".into(),
                problem: "at least one root directory is required".into(),
            });
        }
        let mut roots: Vec<Root> = Vec::with_capacity(configs.len());
        for (i, cfg) in configs.iter().enumerate() {
            let key = format!("roots[{i}].path");
            if cfg.name.trim().is_empty() {
                return Err(Error::Config {
                    key: format!("roots[{i}].name"),
                    problem: "root name must not be empty".into(),
                });
            }
            if roots.iter().any(|r| r.name == cfg.name) {
                return Err(Error::Config {
                    key: format!("roots[{i}].name"),
                    problem: format!("duplicate root name `{}`", cfg.name),
                });
            }
            if !cfg.path.is_absolute() {
                return Err(Error::Config {
                    key,
                    problem: format!("`{}` is not an absolute path", cfg.path.display()),
                });
            }
            let real = std::fs::canonicalize(&cfg.path).map_err(|e| Error::Config {
                key: key.clone(),
                problem: format!("`{}`: {e}", cfg.path.display()),
            })?;
            let dir =
                Dir::open_ambient_dir(&real, ambient_authority()).map_err(|e| Error::Config {
                    key: key.clone(),
                    problem: format!("cannot open `{}` as a directory: {e}", real.display()),
                })?;
            roots.push(Root {
                name: cfg.name.clone(),
                configured: cfg.path.clone(),
                real,
                dir,
            });
        }
        Ok(Self { roots })
    }

    /// Names and canonical paths of the roots, default root first.
    pub fn list(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.roots
            .iter()
            .map(|r| (r.name.as_str(), r.real.as_path()))
    }

    /// Check `input` against the roots (both stages) and return the canonical
    /// absolute path it names: the canonical form of the part that exists, joined
    /// with the part that does not (which may not contain `..`).
    pub fn check(&self, input: &str) -> std::result::Result<PathBuf, Refusal> {
        let located = self.locate(input, Strictness::Strict)?;
        let rel = physical_check(&located).map_err(|e| io_refusal(input, located.root, &e))?;
        Ok(located.root.real.join(rel))
    }

    pub(crate) fn default_root(&self) -> &Root {
        &self.roots[0]
    }

    pub(crate) fn root_named(&self, name: &str) -> Option<&Root> {
        self.roots.iter().find(|r| r.name == name)
    }

    fn describe(&self) -> String {
        self.roots
            .iter()
            .map(|r| format!("{} = {}", r.name, r.real.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Text stage: map `input` to a root and a relative path.
    pub(crate) fn locate(
        &self,
        input: &str,
        strictness: Strictness,
    ) -> std::result::Result<Located<'_>, Refusal> {
        check_text(input, strictness)?;
        let path = Path::new(input);
        if path.is_absolute() {
            let (root, rest) = self.strip_root(path).ok_or_else(|| {
                Refusal::new(
                    RefusalRule::PathEscape,
                    format!(
                        "absolute path `{input}` is outside the allowed roots ({})",
                        self.describe()
                    ),
                )
            })?;
            let (rel, depth) = lexical(&rest, PathBuf::new(), 0, input, root)?;
            Ok(Located { root, rel, depth })
        } else {
            let root = self.default_root();
            let (rel, depth) = lexical(path, PathBuf::new(), 0, input, root)?;
            Ok(Located { root, rel, depth })
        }
    }

    /// Text stage for a path relative to `base` (an `exec` working directory).
    pub(crate) fn locate_from<'a>(
        &'a self,
        base: &Located<'a>,
        input: &str,
        strictness: Strictness,
    ) -> std::result::Result<Located<'a>, Refusal> {
        check_text(input, strictness)?;
        if Path::new(input).is_absolute() {
            return self.locate(input, strictness);
        }
        let (rel, depth) = lexical(
            Path::new(input),
            base.rel.clone(),
            base.depth,
            input,
            base.root,
        )?;
        Ok(Located {
            root: base.root,
            rel,
            depth,
        })
    }

    /// The root containing absolute `path` (longest match, on the configured or the
    /// canonical spelling) and the rest of the path.
    fn strip_root(&self, path: &Path) -> Option<(&Root, PathBuf)> {
        let mut best: Option<(&Root, PathBuf, usize)> = None;
        for root in &self.roots {
            for prefix in [&root.real, &root.configured] {
                if let Ok(rest) = path.strip_prefix(prefix) {
                    let len = prefix.components().count();
                    if best.as_ref().is_none_or(|b| len > b.2) {
                        best = Some((root, rest.to_path_buf(), len));
                    }
                }
            }
        }
        best.map(|(r, p, _)| (r, p))
    }
}

/// Refuse path text that is never a legitimate agent path.
fn check_text(input: &str, strictness: Strictness) -> std::result::Result<(), Refusal> {
    let syntax = |why: String| Err(Refusal::new(RefusalRule::PathSyntax, why));
    if input.trim().is_empty() {
        return syntax("empty path".into());
    }
    if input.contains('\0') {
        return syntax(format!(
            "path `{}` contains a NUL byte",
            input.escape_debug()
        ));
    }
    if let Some(c) = input.chars().find(|c| c.is_control()) {
        return syntax(format!(
            "path `{}` contains control character U+{:04X}",
            input.escape_debug(),
            c as u32
        ));
    }
    if input.starts_with('~') {
        return syntax(format!(
            "path `{input}` starts with `~`: home directories are not expanded and are outside the roots"
        ));
    }
    if strictness == Strictness::Argument {
        return Ok(());
    }
    if input.contains('\\') {
        return syntax(format!(
            "path `{input}` contains a backslash; only `/` separates components"
        ));
    }
    if let Some(seq) = percent_escape(input) {
        return syntax(format!(
            "path `{input}` contains the percent-encoded sequence `{seq}`; paths are taken literally and encoded forms are refused"
        ));
    }
    if let Some(c) = input.chars().find(|c| is_invisible(*c)) {
        return syntax(format!(
            "path `{}` contains invisible or bidirectional character U+{:04X}",
            input.escape_debug(),
            c as u32
        ));
    }
    if let Some(c) = input.chars().find(|c| is_lookalike(*c)) {
        return syntax(format!(
            "path `{input}` contains `{c}` (U+{:04X}), a look-alike of a dot or slash",
            c as u32
        ));
    }
    // Anything else whose compatibility normalisation produces new dots or slashes.
    let normalized: String = input.nfkc().collect();
    let count = |s: &str| s.chars().filter(|c| matches!(c, '.' | '/' | '\\')).count();
    if count(&normalized) != count(input) {
        return syntax(format!(
            "path `{input}` contains characters that normalise to dots or slashes (`{normalized}`)"
        ));
    }
    Ok(())
}

fn percent_escape(input: &str) -> Option<&str> {
    let b = input.as_bytes();
    for i in 0..b.len() {
        if b[i] != b'%' {
            continue;
        }
        if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            return input.get(i..i + 3);
        }
        if i + 5 < b.len()
            && (b[i + 1] == b'u' || b[i + 1] == b'U')
            && b[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit)
        {
            return input.get(i..i + 6);
        }
    }
    None
}

fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0xE0000..=0xE0FFF)
}

fn is_lookalike(c: char) -> bool {
    matches!(
        c,
        '\u{2024}' // one dot leader
            | '\u{2025}' // two dot leader
            | '\u{2026}' // ellipsis
            | '\u{FE52}' // small full stop
            | '\u{FF0E}' // fullwidth full stop
            | '\u{3002}' // ideographic full stop
            | '\u{FF61}' // halfwidth ideographic full stop
            | '\u{00B7}' // middle dot
            | '\u{0701}' | '\u{0702}' // syriac dots
            | '\u{A60E}' // vai full stop
            | '\u{10A50}' // kharoshthi dot
            | '\u{2E33}' // raised dot
            | '\u{2215}' // division slash
            | '\u{2044}' // fraction slash
            | '\u{2571}' // box drawings diagonal
            | '\u{29F8}' // big solidus
            | '\u{29F9}' // big reverse solidus
            | '\u{FF0F}' // fullwidth solidus
            | '\u{FF3C}' // fullwidth reverse solidus
            | '\u{FE68}' // small reverse solidus
            | '\u{2216}' // set minus
            | '\u{27CB}' | '\u{27CD}' // mathematical rising / falling diagonal
            | '\u{3033}' // vertical kana repeat mark upper half
            | '\u{0338}' // combining long solidus overlay
            | '\u{0337}' // combining short solidus overlay
            | '\u{1735}' // philippine single punctuation
    )
}

/// Remove `.`, keep `..`, refuse a `..` that climbs above the root.
fn lexical(
    rel: &Path,
    mut out: PathBuf,
    mut depth: usize,
    input: &str,
    root: &Root,
) -> std::result::Result<(PathBuf, usize), Refusal> {
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return Err(Refusal::new(
                        RefusalRule::PathEscape,
                        format!(
                            "path `{input}` climbs above root `{}` ({}) with `..`",
                            root.name,
                            root.real.display()
                        ),
                    ));
                }
                depth -= 1;
                out.push("..");
            }
            Component::Normal(n) => {
                depth += 1;
                out.push(n);
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Refusal::new(
                    RefusalRule::PathSyntax,
                    format!("path `{input}` has an unexpected root component"),
                ));
            }
        }
    }
    Ok((out, depth))
}

/// Resolve the longest existing prefix of `located` beneath its root, so that a
/// symlink anywhere on the way that leads out is detected, and return the canonical
/// root-relative path it would name. The part that does not exist yet must not
/// contain `..`: once a component is missing, where a later `..` lands can only be
/// judged lexically, and a symlink earlier on the way may have made the lexical view
/// wrong (`link_to_root/new/../../x` climbs out if `new` is ever created).
pub(crate) fn physical_check(located: &Located<'_>) -> io::Result<PathBuf> {
    let mut p = located.rel.clone();
    let mut tail: Vec<std::ffi::OsString> = Vec::new();
    loop {
        let target: &Path = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &p
        };
        match located.root.dir.canonicalize(target) {
            Ok(canon) => {
                let mut canon: PathBuf = canon
                    .components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .collect();
                for part in tail.iter().rev() {
                    if part == ".." {
                        return Err(io::Error::other(
                            "`..` follows a component that does not exist, so where it leads cannot be checked",
                        ));
                    }
                    canon.push(part);
                }
                return Ok(canon);
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) =>
            {
                match p.components().next_back() {
                    Some(last) => tail.push(last.as_os_str().to_owned()),
                    None => return Ok(PathBuf::new()),
                }
                p.pop();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether cap-std refused because resolution would leave the root.
pub(crate) fn is_escape(e: &io::Error) -> bool {
    (e.kind() == io::ErrorKind::PermissionDenied && e.raw_os_error().is_none())
        || e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error())
}

fn is_loop(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Turn an io error from a confined operation into a refusal when it is one.
pub(crate) fn io_refusal(input: &str, root: &Root, e: &io::Error) -> Refusal {
    if is_escape(e) {
        Refusal::new(
            RefusalRule::PathEscape,
            format!(
                "path `{input}` resolves outside root `{}` ({}) through a symlink or `..`",
                root.name,
                root.real.display()
            ),
        )
    } else if is_loop(e) {
        Refusal::new(
            RefusalRule::PathEscape,
            format!("path `{input}` runs into a symlink loop or too many symlinks"),
        )
    } else {
        Refusal::new(RefusalRule::PathEscape, format!("path `{input}`: {e}"))
    }
}

/// Map an io error of a confined operation to the crate error.
pub(crate) fn map_io(tool: &str, input: &str, root: &Root, e: io::Error) -> Error {
    if is_escape(&e) || is_loop(&e) {
        Error::refused(tool, io_refusal(input, root, &e))
    } else {
        Error::Io {
            tool: tool.to_owned(),
            path: input.to_owned(),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        for bad in [
            "",
            " ",
            "a\0b",
            "a\nb",
            "~/x",
            "~root/x",
            "a\\..\\b",
            "%2e%2e/x",
            "a%2Fb",
            "%u002e%u002e/x",
            "．．/x",
            "..／x",
            "a\u{200b}b",
            "a\u{202e}b",
            "\u{2025}/x",
            "a\u{2215}b",
        ] {
            assert!(check_text(bad, Strictness::Strict).is_err(), "{bad:?}");
        }
        for good in [
            "a/b.txt",
            "src/main.rs",
            ".hidden",
            "naïve/ü.md",
            "100%",
            "%zz",
        ] {
            assert!(check_text(good, Strictness::Strict).is_ok(), "{good:?}");
        }
        assert!(check_text("a\\.c$", Strictness::Argument).is_ok());
        assert!(check_text("~x", Strictness::Argument).is_err());
    }
}
