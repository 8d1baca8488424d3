//! Argument checks for allowed programs.
//!
//! Two layers. Generic, for every program except `echo`: every positional argument,
//! every `--name=value` value, and every suffix of a short-option cluster that starts
//! with `/`, `~` or `.` is treated as a possible path and must stay inside the roots
//! (absolute paths must lie inside a root, `..` must not climb above it, existing
//! symlinks on the way must not lead out). Program-specific: options that run other
//! programs, follow symlinks out of the tree, read file lists or write files are
//! refused, and safety options are injected (`--sandbox` for sed, `--no-config` for
//! rg, `--no-ext-diff --no-textconv` for git diff/log/show, `--no-textconv` for
//! git blame). Long options are also
//! refused when given as an abbreviation of a refused option (GNU and git accept
//! unambiguous prefixes).

use crate::error::{Refusal, RefusalRule};
use crate::fs::{Located, Roots};

use super::sed;

/// Where path-like arguments are checked.
pub(crate) struct PathScope<'a> {
    pub(crate) roots: &'a Roots,
    pub(crate) base: &'a Located<'a>,
}

impl PathScope<'_> {
    fn check(&self, program: &str, arg: &str) -> Result<(), Refusal> {
        if arg.is_empty() || arg == "-" {
            return Ok(());
        }
        let located = self
            .roots
            .locate_from(self.base, arg, crate::fs::Strictness::Argument)
            .map_err(|r| argument_refusal(program, arg, r))?;
        crate::fs::physical_check(&located)
            .map(|_| ())
            .map_err(|e| {
                argument_refusal(program, arg, crate::fs::io_refusal(arg, located.root, &e))
            })
    }
}

fn argument_refusal(program: &str, arg: &str, inner: Refusal) -> Refusal {
    Refusal::new(
        inner.rule,
        format!("`{program}` argument `{arg}`: {}", inner.reason),
    )
}

fn dangerous(program: &str, what: String) -> Refusal {
    Refusal::new(
        RefusalRule::DangerousArgument,
        format!("`{program}`: {what}"),
    )
}

/// Refused long options per program, with the reason.
fn forbidden_long(program: &str) -> &'static [(&'static str, &'static str)] {
    match program {
        "ls" => &[("dereference", "follows symlinks out of the tree")],
        "grep" => &[("dereference-recursive", "follows symlinks out of the tree")],
        "rg" => &[
            ("pre", "runs a preprocessor program on every file"),
            ("pre-glob", "runs a preprocessor program"),
            ("follow", "follows symlinks out of the tree"),
            ("search-zip", "runs decompression programs"),
            ("hostname-bin", "runs a program"),
        ],
        "tail" => &[
            ("follow", "never ends (use a bounded read)"),
            ("retry", "only useful with --follow"),
        ],
        "wc" => &[(
            "files0-from",
            "reads file names from a file, which are not checked",
        )],
        "sed" => &[
            (
                "file",
                "reads the sed script from a file, which cannot be checked",
            ),
            ("follow-symlinks", "writes through symlinks"),
        ],
        _ => &[],
    }
}

/// Refused short options per program.
fn forbidden_short(program: &str) -> &'static [(char, &'static str)] {
    match program {
        "ls" => &[('L', "follows symlinks out of the tree")],
        "grep" => &[('R', "follows symlinks out of the tree")],
        "rg" => &[
            ('L', "follows symlinks out of the tree"),
            ('z', "runs decompression programs"),
        ],
        "tail" => &[('f', "never ends"), ('F', "never ends")],
        "sed" => &[(
            'f',
            "reads the sed script from a file, which cannot be checked",
        )],
        _ => &[],
    }
}

/// Long options that are exact names of harmless options although they are a
/// prefix of a refused one.
const EXACT_OK: &[&str] = &["text", "no-textconv", "no-ext-diff"];

fn check_long(program: &str, name: &str, table: &[(&str, &str)]) -> Result<(), Refusal> {
    if EXACT_OK.contains(&name) {
        return Ok(());
    }
    for (forbidden, why) in table {
        if !name.is_empty() && forbidden.starts_with(name) {
            let note = if name == *forbidden {
                String::new()
            } else {
                format!(" (`--{name}` abbreviates it)")
            };
            return Err(dangerous(
                program,
                format!("option `--{forbidden}` is refused: {why}{note}"),
            ));
        }
    }
    Ok(())
}

/// Check `args` of `program`; returns the argument list to run (with injected options).
pub(crate) fn check(
    program: &str,
    args: &[String],
    scope: &PathScope<'_>,
) -> Result<Vec<String>, Refusal> {
    match program {
        "echo" => Ok(args.to_vec()),
        "pwd" => {
            if let Some(a) = args.iter().find(|a| *a != "-L" && *a != "-P") {
                return Err(dangerous(
                    program,
                    format!("argument `{a}` is not accepted (only -L, -P)"),
                ));
            }
            Ok(args.to_vec())
        }
        "git" => git(args, scope),
        "sed" => {
            let mut out = vec!["--sandbox".to_owned()];
            out.extend(sed_args(args, scope)?);
            Ok(out)
        }
        "rg" => {
            generic(program, args, scope)?;
            let mut out = vec!["--no-config".to_owned()];
            out.extend(args.iter().cloned());
            Ok(out)
        }
        _ => {
            generic(program, args, scope)?;
            Ok(args.to_vec())
        }
    }
}

/// The generic layer: refused options of the program, then path checks.
fn generic(program: &str, args: &[String], scope: &PathScope<'_>) -> Result<(), Refusal> {
    let long = forbidden_long(program);
    let short = forbidden_short(program);
    let mut options_done = false;
    for arg in args {
        if options_done || !arg.starts_with('-') || arg == "-" {
            scope.check(program, arg)?;
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            check_long(program, name, long)?;
            if let Some(v) = value {
                scope.check(program, v)?;
            }
            continue;
        }
        check_cluster(program, arg, short, scope)?;
    }
    Ok(())
}

/// A short-option cluster such as `-rn` or `-o/tmp/x`.
fn check_cluster(
    program: &str,
    arg: &str,
    short: &[(char, &str)],
    scope: &PathScope<'_>,
) -> Result<(), Refusal> {
    for c in arg.chars().skip(1) {
        if let Some((_, why)) = short.iter().find(|(f, _)| *f == c) {
            return Err(dangerous(
                program,
                format!("option `-{c}` (in `{arg}`) is refused: {why}"),
            ));
        }
    }
    for (i, c) in arg.char_indices().skip(2) {
        if matches!(c, '/' | '~' | '.') {
            scope.check(program, &arg[i..])?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- sed

const SED_LONG: &[&str] = &[
    "expression",
    "file",
    "in-place",
    "line-length",
    "null-data",
    "zero-terminated",
    "quiet",
    "silent",
    "regexp-extended",
    "separate",
    "sandbox",
    "unbuffered",
    "posix",
    "debug",
    "follow-symlinks",
    "help",
    "version",
];

fn sed_suffix_ok(suffix: &str) -> bool {
    suffix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~'))
}

fn sed_args(args: &[String], scope: &PathScope<'_>) -> Result<Vec<String>, Refusal> {
    const P: &str = "sed";
    let mut scripts: Vec<String> = Vec::new();
    let mut positionals: Vec<&String> = Vec::new();
    let mut options_done = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if options_done || !arg.starts_with('-') || arg == "-" {
            positionals.push(arg);
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (given, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            check_long(P, given, forbidden_long(P))?;
            let matches: Vec<&&str> = SED_LONG.iter().filter(|o| o.starts_with(given)).collect();
            let name = match matches.as_slice() {
                [one] => **one,
                _ if SED_LONG.contains(&given) => given,
                [] => return Err(dangerous(P, format!("unknown option `--{given}`"))),
                _ => return Err(dangerous(P, format!("ambiguous option `--{given}`"))),
            };
            match name {
                "expression" => {
                    let v = match value {
                        Some(v) => v,
                        None => {
                            let v = args.get(i).cloned().ok_or_else(|| {
                                dangerous(P, "`--expression` needs a script".into())
                            })?;
                            i += 1;
                            v
                        }
                    };
                    scripts.push(v);
                }
                "in-place" => {
                    if let Some(s) = value
                        && !sed_suffix_ok(&s)
                    {
                        return Err(dangerous(
                            P,
                            format!(
                                "backup suffix `{s}` of `--in-place` may only contain letters, digits, `.`, `_`, `-`, `~` (a `/` or `*` places the backup elsewhere)"
                            ),
                        ));
                    }
                }
                "line-length" if value.is_none() => i += 1,
                _ => {}
            }
            continue;
        }
        // Short cluster.
        let body: Vec<char> = arg.chars().skip(1).collect();
        let mut k = 0;
        while k < body.len() {
            let c = body[k];
            k += 1;
            match c {
                'n' | 'E' | 'r' | 's' | 'u' | 'z' => {}
                'f' => {
                    return Err(dangerous(
                        P,
                        "option `-f` is refused: the script file cannot be checked".into(),
                    ));
                }
                'e' => {
                    let rest: String = body[k..].iter().collect();
                    let v = if rest.is_empty() {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| dangerous(P, "`-e` needs a script".into()))?;
                        i += 1;
                        v
                    } else {
                        rest
                    };
                    scripts.push(v);
                    break;
                }
                'i' => {
                    let suffix: String = body[k..].iter().collect();
                    if !sed_suffix_ok(&suffix) {
                        return Err(dangerous(
                            P,
                            format!(
                                "backup suffix `{suffix}` of `-i` may only contain letters, digits, `.`, `_`, `-`, `~` (a `/` or `*` places the backup elsewhere)"
                            ),
                        ));
                    }
                    break;
                }
                'l' => {
                    if k == body.len() {
                        i += 1;
                    }
                    break;
                }
                other => {
                    return Err(dangerous(
                        P,
                        format!("unknown option `-{other}` in `{arg}`"),
                    ));
                }
            }
        }
    }
    let files: &[&String] = if scripts.is_empty() {
        let Some(first) = positionals.first() else {
            return Err(dangerous(P, "no script given".into()));
        };
        scripts.push((*first).clone());
        &positionals[1..]
    } else {
        &positionals[..]
    };
    for s in &scripts {
        sed::check_script(s)?;
    }
    for f in files {
        scope.check(P, f)?;
    }
    Ok(args.to_vec())
}

// ---------------------------------------------------------------- git

const GIT_SUBCOMMANDS: &[&str] = &[
    "add",
    "blame",
    "branch",
    "cat-file",
    "checkout",
    "commit",
    "describe",
    "diff",
    "grep",
    "init",
    "log",
    "ls-files",
    "ls-tree",
    "merge-base",
    "mv",
    "reflog",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "shortlog",
    "show",
    "show-ref",
    "stash",
    "status",
    "switch",
    "tag",
];

const GIT_GLOBAL_OK: &[&str] = &[
    "--no-pager",
    "-P",
    "--no-optional-locks",
    "--literal-pathspecs",
    "--glob-pathspecs",
    "--noglob-pathspecs",
    "--icase-pathspecs",
    "--no-replace-objects",
];

const GIT_FORBIDDEN_LONG: &[(&str, &str)] = &[
    ("output", "writes to a file of the caller's choosing"),
    ("ext-diff", "runs an external diff program"),
    ("textconv", "runs configured conversion programs"),
    ("filters", "runs configured filter programs"),
    ("exec", "runs a program"),
    ("upload-pack", "runs a program"),
    ("receive-pack", "runs a program"),
    ("template", "copies hooks from a template directory"),
    ("separate-git-dir", "places the repository elsewhere"),
    ("git-dir", "points git at another repository"),
    ("work-tree", "points git at another tree"),
    ("open-files-in-pager", "runs a pager program"),
    ("gpg-sign", "runs the configured signing program"),
    ("sign", "runs the configured signing program"),
    ("local-user", "runs the configured signing program"),
    ("config", "changes configuration"),
    (
        "recurse-submodules",
        "acts on submodules outside this check",
    ),
    ("exec-path", "runs programs from another directory"),
];

fn git(args: &[String], scope: &PathScope<'_>) -> Result<Vec<String>, Refusal> {
    const P: &str = "git";
    let mut idx = 0;
    while let Some(a) = args.get(idx) {
        if !a.starts_with('-') {
            break;
        }
        if GIT_GLOBAL_OK.contains(&a.as_str()) {
            idx += 1;
            continue;
        }
        let why = match a.split('=').next().unwrap_or(a) {
            "-C" => "runs git in another directory",
            "-c" => "sets configuration (core.pager, aliases and hooks run programs)",
            "--config-env" => "sets configuration from the environment",
            "--git-dir" => "points git at another repository",
            "--work-tree" => "points git at another tree",
            "--exec-path" => "runs git programs from another directory",
            "--namespace" | "--super-prefix" => "changes which repository data is used",
            "-p" | "--paginate" => "runs a pager",
            _ => "is not an accepted global option",
        };
        return Err(dangerous(
            P,
            format!("global option `{a}` is refused: it {why}"),
        ));
    }
    let Some(sub) = args.get(idx) else {
        return Err(dangerous(P, "no subcommand given".into()));
    };
    if !GIT_SUBCOMMANDS.contains(&sub.as_str()) {
        return Err(dangerous(
            P,
            format!(
                "subcommand `{sub}` is not allowed (allowed: {})",
                GIT_SUBCOMMANDS.join(", ")
            ),
        ));
    }
    let rest = &args[idx + 1..];
    let mut options_done = false;
    for arg in rest {
        if options_done || !arg.starts_with('-') || arg == "-" {
            scope.check(P, arg)?;
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            check_long(P, name, GIT_FORBIDDEN_LONG)?;
            if let Some(v) = value {
                scope.check(P, v)?;
            }
            continue;
        }
        let short: &[(char, &str)] = match sub.as_str() {
            "grep" => &[('O', "runs a pager program")],
            "commit" | "tag" | "stash" => &[
                ('S', "runs the configured signing program"),
                ('s', "runs the configured signing program"),
                ('u', "runs the configured signing program"),
            ],
            _ => &[],
        };
        // `commit -s` is a sign-off line, not a signature; allow it there.
        let short: Vec<(char, &str)> = short
            .iter()
            .copied()
            .filter(|(c, _)| !(sub == "commit" && (*c == 's' || *c == 'u')))
            .collect();
        check_cluster(P, arg, &short, scope)?;
    }
    let mut out: Vec<String> = args[..=idx].to_vec();
    match sub.as_str() {
        "diff" | "log" | "show" => {
            out.push("--no-ext-diff".into());
            out.push("--no-textconv".into());
        }
        "blame" => out.push("--no-textconv".into()),
        _ => {}
    }
    out.extend(rest.iter().cloned());
    Ok(out)
}
