//! A strict shell-words splitter. No shell ever runs, so anything that would only
//! mean something to a shell (separators, pipes, redirections, substitutions, globs,
//! brace and tilde expansion, comments, history) is refused instead of passed on.

use crate::error::{Refusal, RefusalRule};

const MAX_COMMAND_BYTES: usize = 8 * 1024;
const MAX_WORDS: usize = 256;

fn refuse(reason: String) -> Refusal {
    Refusal::new(RefusalRule::ShellSyntax, reason)
}

fn describe(c: char) -> &'static str {
    match c {
        ';' | '&' => "command separators and background jobs",
        '|' => "pipes",
        '<' | '>' => "redirections",
        '$' | '`' => "variable and command substitution",
        '(' | ')' => "subshells",
        '{' | '}' => "brace expansion and command groups",
        '*' | '?' | '[' | ']' => "globbing",
        '!' => "history expansion and negation",
        '#' => "comments",
        '~' => "tilde expansion",
        '\\' => "backslash escapes",
        _ => "shell syntax",
    }
}

/// Split `command` into words, refusing shell syntax. Single quotes are literal;
/// double quotes allow `\"` and `\\` but refuse `$` and backticks.
pub(crate) fn split(command: &str) -> Result<Vec<String>, Refusal> {
    if command.len() > MAX_COMMAND_BYTES {
        return Err(refuse(format!(
            "command is {} bytes, more than {MAX_COMMAND_BYTES}",
            command.len()
        )));
    }
    if let Some((i, c)) = command
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\t')
    {
        let what = match c {
            '\n' | '\r' => "a newline (a second command)".to_owned(),
            '\0' => "a NUL byte".to_owned(),
            other => format!("control character U+{:04X}", other as u32),
        };
        return Err(refuse(format!(
            "command contains {what} at byte {i}; only one command per call, without a shell"
        )));
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                let mut closed = false;
                for (_, q) in chars.by_ref() {
                    if q == '\'' {
                        closed = true;
                        break;
                    }
                    word.push(q);
                }
                if !closed {
                    return Err(refuse(format!(
                        "unterminated single quote starting at byte {i}"
                    )));
                }
            }
            '"' => {
                in_word = true;
                let mut closed = false;
                while let Some((j, q)) = chars.next() {
                    match q {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '$' | '`' => {
                            return Err(refuse(format!(
                                "`{q}` inside double quotes at byte {j} ({}): commands run without a shell; use single quotes for a literal `{q}`",
                                describe(q)
                            )));
                        }
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => word.push(e),
                            _ => {
                                return Err(refuse(format!(
                                    "backslash inside double quotes at byte {j}: only \\\" and \\\\ are supported; use single quotes"
                                )));
                            }
                        },
                        other => word.push(other),
                    }
                }
                if !closed {
                    return Err(refuse(format!(
                        "unterminated double quote starting at byte {i}"
                    )));
                }
            }
            ';' | '&' | '|' | '<' | '>' | '$' | '`' | '(' | ')' | '{' | '}' | '*' | '?' | '['
            | ']' | '!' | '\\' => {
                return Err(refuse(format!(
                    "unquoted `{c}` at byte {i} ({}): commands run without a shell; quote it if it is meant literally",
                    describe(c)
                )));
            }
            '#' | '~' if !in_word => {
                return Err(refuse(format!(
                    "`{c}` at the start of a word, byte {i} ({}): commands run without a shell; quote it if it is meant literally",
                    describe(c)
                )));
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
        if words.len() > MAX_WORDS {
            return Err(refuse(format!("more than {MAX_WORDS} words")));
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(refuse("empty command".to_owned()));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_words_and_quotes() {
        assert_eq!(split("ls -la src").unwrap(), ["ls", "-la", "src"]);
        assert_eq!(
            split("grep -E 'a|b$' \"my file\"").unwrap(),
            ["grep", "-E", "a|b$", "my file"]
        );
        assert_eq!(split("echo a'b'\"c\"").unwrap(), ["echo", "abc"]);
        assert_eq!(split("echo ''").unwrap(), ["echo", ""]);
        assert_eq!(split("echo \"a\\\"b\"").unwrap(), ["echo", "a\"b"]);
        assert_eq!(split("git log HEAD~1").unwrap(), ["git", "log", "HEAD~1"]);
    }

    #[test]
    fn refuses_shell_syntax() {
        for bad in [
            "ls; rm x",
            "ls && x",
            "ls | x",
            "echo $(id)",
            "echo `id`",
            "echo $HOME",
            "echo \"$HOME\"",
            "cat < x",
            "echo > x",
            "ls *",
            "ls ~",
            "ls\nrm",
            "echo 'unterminated",
            "echo \"x",
            "",
            "   ",
            "echo \\; x",
            "(ls)",
            "{ls,}",
            "# comment",
        ] {
            let r = split(bad);
            assert!(r.is_err(), "{bad:?} -> {r:?}");
            assert!(!r.unwrap_err().reason.is_empty());
        }
    }
}
