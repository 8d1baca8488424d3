//! The seeds' deny patterns, applied to every command even when its program is
//! allow-listed: by program name, and as patterns over the whole command text.
//! (`format` is matched only as a program name, so `git log --format=...` passes.)

use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Refusal, RefusalRule};

/// Programs that are refused whatever the allow-list says.
const DENIED_PROGRAMS: &[(&str, &str)] = &[
    ("rm", "file deletion"),
    ("unlink", "file deletion"),
    ("rmdir", "directory deletion"),
    ("shred", "file destruction"),
    ("dd", "raw device copy"),
    ("mkfs", "filesystem creation"),
    ("fdisk", "partitioning"),
    ("sfdisk", "partitioning"),
    ("parted", "partitioning"),
    ("format", "formatting"),
    ("shutdown", "system control"),
    ("reboot", "system control"),
    ("halt", "system control"),
    ("poweroff", "system control"),
    ("init", "system control"),
    ("telinit", "system control"),
    ("systemctl", "system control"),
];

struct Pattern {
    name: &'static str,
    re: Regex,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let specs: &[(&str, &str)] = &[
        (
            "recursive_delete",
            r"(^|[^a-z0-9_.-])rm\s+(-\S*\s+)*-(-recursive|[a-z]*r)",
        ),
        (
            "delete_wildcard_or_root",
            r"(^|[^a-z0-9_.-])rm\s+(-\S*\s+)*(\*|/|~|\.(\s|$))",
        ),
        (
            "find_delete",
            r"(^|[^a-z0-9_.-])find\s.*\s-(delete|exec|execdir|ok|okdir|fprint|fprintf|fls)\b",
        ),
        ("unlink", r"(^|\s)unlink(\s|$)"),
        ("rmdir", r"(^|\s)rmdir(\s|$)"),
        (
            "git_rm",
            r"(^|[^a-z0-9_.-])git\s+((-c|-C|--git-dir|--work-tree)\s+\S+\s+|-\S+\s+)*rm(\s|$)",
        ),
        ("dd_to_device", r"(^|[^a-z0-9_.-])dd\s.*\bof=/dev/"),
        ("mkfs", r"(^|[^a-z0-9_.-])mkfs(\.[a-z0-9]+)?(\s|$)"),
        ("fdisk", r"(^|[^a-z0-9_.-])(s?fdisk|parted)(\s|$)"),
        ("device_redirect", r">\s*/dev/"),
        (
            "chmod_recursive_777",
            r"(^|[^a-z0-9_.-])chmod\s+(-\S+\s+)*-[a-z]*r[a-z]*\s+(0?777|a\+rwx)",
        ),
        (
            "chown_recursive_root",
            r"(^|[^a-z0-9_.-])chown\s+(-\S+\s+)*-[a-z]*r[a-z]*\s+\S+\s+(/|~)",
        ),
        ("fork_bomb", r":\s*\(\s*\)\s*\{"),
        ("fork_bomb", r"[a-z_][a-z0-9_]*\s*\(\s*\)\s*\{[^}]*\|[^}]*&"),
        (
            "system_control",
            r"(^|\s)(shutdown|reboot|halt|poweroff)(\s|$)",
        ),
        ("system_control", r"(^|\s)(tel)?init\s+[0-6s](\s|$)"),
        (
            "system_control",
            r"(^|\s)systemctl\s+(start|stop|restart|enable|disable|kill|mask|isolate|poweroff|reboot|halt)\b",
        ),
        ("environment_dump", r"/proc/[^\s/]+/environ"),
    ];
    specs
        .iter()
        .filter_map(|(name, re)| Regex::new(re).ok().map(|re| Pattern { name, re }))
        .collect()
});

/// Refuse a denied program or a command text matching a deny pattern.
pub(crate) fn check(argv: &[String]) -> Result<(), Refusal> {
    if let Some(program) = argv.first() {
        let base = program.rsplit('/').next().unwrap_or(program);
        let stem = base.split('.').next().unwrap_or(base);
        if let Some((_, what)) = DENIED_PROGRAMS
            .iter()
            .find(|(p, _)| *p == base || *p == stem)
        {
            return Err(Refusal::new(
                RefusalRule::DeniedPattern,
                format!("program `{program}` is denied ({what})"),
            ));
        }
    }
    let text = argv.join(" ").to_lowercase();
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in PATTERNS.iter() {
        if let Some(m) = p.re.find(&text) {
            return Err(Refusal::new(
                RefusalRule::DeniedPattern,
                format!(
                    "command matches deny pattern `{}` at `{}`",
                    p.name,
                    m.as_str().trim()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn all_patterns_compile() {
        assert_eq!(PATTERNS.len(), 18);
    }

    #[test]
    fn denies_the_seed_patterns() {
        for bad in [
            "rm -rf x",
            "echo rm -rf /",
            "echo rm -r .",
            "echo rm *",
            "echo find . -delete",
            "echo unlink x",
            "git rm x",
            "git -c a=b rm x",
            "echo dd if=/dev/zero of=/dev/sda",
            "echo mkfs.ext4 /dev/sda",
            "echo fdisk /dev/sda",
            "echo x > /dev/sda",
            "echo chmod -R 777 /",
            "echo chown -R me /",
            "echo :(){ :|:& };:",
            "echo bomb(){ bomb|bomb& };bomb",
            "echo shutdown now",
            "echo init 0",
            "echo systemctl stop sshd",
            "cat /proc/self/environ",
            "mkfs.ext4 x",
            "/usr/bin/rm x",
        ] {
            assert!(check(&words(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn passes_harmless_commands() {
        for ok in [
            "git log --format=%h",
            "ls -la",
            "grep -rn format src",
            "echo the firm informs",
            "git status",
            "echo warm -r",
        ] {
            assert!(check(&words(ok)).is_ok(), "{ok}");
        }
    }
}
