//! A scanner for sed scripts that refuses the commands and flags that run programs
//! or touch files (`e`, `r`, `R`, `w`, `W`, and the `e`/`w` flags of `s`). GNU sed's
//! `--sandbox` is passed as well, as a second line of defence.

use crate::error::{Refusal, RefusalRule};

fn refuse(script: &str, why: String) -> Refusal {
    Refusal::new(
        RefusalRule::DangerousArgument,
        format!("sed script `{script}`: {why}"),
    )
}

struct Cursor<'a> {
    chars: Vec<char>,
    pos: usize,
    script: &'a str,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }
    fn err(&self, why: impl Into<String>) -> Refusal {
        refuse(self.script, why.into())
    }
    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }
    /// Read up to an unescaped `delim`, consuming it.
    fn delimited(&mut self, delim: char, what: &str) -> Result<(), Refusal> {
        loop {
            match self.bump() {
                None => return Err(self.err(format!("unterminated {what}"))),
                Some('\\') => {
                    if self.bump().is_none() {
                        return Err(self.err(format!("unterminated {what}")));
                    }
                }
                Some(c) if c == delim => return Ok(()),
                Some(_) => {}
            }
        }
    }
    fn address(&mut self) -> Result<bool, Refusal> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                self.digits();
                if self.peek() == Some('~') {
                    self.pos += 1;
                    self.digits();
                }
            }
            Some('$') => self.pos += 1,
            Some('/') => {
                self.pos += 1;
                self.delimited('/', "address regex")?;
                self.regex_flags();
            }
            Some('\\') => {
                self.pos += 1;
                let d = self
                    .bump()
                    .ok_or_else(|| self.err("missing address delimiter"))?;
                self.delimited(d, "address regex")?;
                self.regex_flags();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn regex_flags(&mut self) {
        while matches!(self.peek(), Some('I' | 'M')) {
            self.pos += 1;
        }
    }
    fn label(&mut self) {
        while self.peek().is_some_and(|c| c != ';' && c != '}') {
            self.pos += 1;
        }
    }
    fn end_of_command(&mut self) -> Result<(), Refusal> {
        self.skip_ws();
        match self.peek() {
            None | Some(';') | Some('}') => Ok(()),
            Some(c) => Err(self.err(format!(
                "unexpected `{c}` after a command at character {}",
                self.pos
            ))),
        }
    }
}

/// Refuse a sed script that could run programs or read/write files other than the
/// ones given on the command line.
pub(crate) fn check_script(script: &str) -> Result<(), Refusal> {
    let mut cur = Cursor {
        chars: script.chars().collect(),
        pos: 0,
        script,
    };
    loop {
        while matches!(cur.peek(), Some(' ' | '\t' | ';')) {
            cur.pos += 1;
        }
        let Some(_) = cur.peek() else {
            return Ok(());
        };
        if cur.address()? {
            cur.skip_ws();
            if cur.peek() == Some(',') {
                cur.pos += 1;
                cur.skip_ws();
                match cur.peek() {
                    Some('+' | '~') => {
                        cur.pos += 1;
                        cur.digits();
                    }
                    _ => {
                        if !cur.address()? {
                            return Err(cur.err("missing second address after `,`"));
                        }
                    }
                }
            }
        }
        cur.skip_ws();
        while cur.peek() == Some('!') {
            cur.pos += 1;
            cur.skip_ws();
        }
        let Some(cmd) = cur.bump() else {
            return Err(cur.err("address without a command"));
        };
        match cmd {
            '{' | '}' => {}
            '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z' | 'F' => {
                cur.end_of_command()?;
            }
            'l' | 'L' | 'q' | 'Q' => {
                cur.skip_ws();
                cur.digits();
                cur.end_of_command()?;
            }
            ':' | 'b' | 't' | 'T' | 'v' => {
                cur.skip_ws();
                cur.label();
            }
            // Text to the end of the script (GNU one-liner form): output only.
            'a' | 'i' | 'c' | '#' => return Ok(()),
            's' => {
                let d = cur
                    .bump()
                    .ok_or_else(|| cur.err("`s` without a delimiter"))?;
                if d == '\\' || d == ' ' {
                    return Err(cur.err(format!("`s` with delimiter `{d}` is not supported")));
                }
                cur.delimited(d, "`s` regex")?;
                cur.delimited(d, "`s` replacement")?;
                while let Some(f) = cur.peek() {
                    match f {
                        'g' | 'p' | 'i' | 'I' | 'm' | 'M' | '0'..='9' => cur.pos += 1,
                        'e' => {
                            return Err(cur.err(
                                "the `e` flag of `s` runs the pattern space as a shell command",
                            ));
                        }
                        'w' => return Err(cur.err("the `w` flag of `s` writes to a file")),
                        _ => break,
                    }
                }
                cur.end_of_command()?;
            }
            'y' => {
                let d = cur
                    .bump()
                    .ok_or_else(|| cur.err("`y` without a delimiter"))?;
                cur.delimited(d, "`y` source")?;
                cur.delimited(d, "`y` destination")?;
                cur.end_of_command()?;
            }
            'e' => return Err(cur.err("the `e` command runs a shell command")),
            'r' | 'R' => return Err(cur.err(format!("the `{cmd}` command reads a file"))),
            'w' | 'W' => return Err(cur.err(format!("the `{cmd}` command writes a file"))),
            other => {
                return Err(cur.err(format!("unknown or unsupported command `{other}`")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_script;

    #[test]
    fn accepts_ordinary_scripts() {
        for ok in [
            "s/a/b/",
            "s/a/b/g",
            "s|/usr|/opt|g",
            "1,5p",
            "/foo/d",
            "$!N; P; D",
            "10q",
            "s/x/y/2; s/\\//:/g",
            "/start/,/end/{s/a/b/;p}",
            "y/abc/xyz/",
            "1~2d",
            "/x/I,+3d",
            "a appended text; with semicolons",
            "-n",
        ]
        .into_iter()
        .filter(|s| !s.starts_with('-'))
        {
            assert!(check_script(ok).is_ok(), "{ok}: {:?}", check_script(ok));
        }
    }

    #[test]
    fn refuses_exec_read_write() {
        for bad in [
            "e id",
            "1e id",
            "s/x/id/e",
            "s/x/y/w /tmp/out",
            "s/x/y/gw out",
            "w /tmp/out",
            "1,$w out",
            "W out",
            "r /etc/passwd",
            "R /etc/passwd",
            "p;e id",
            "/x/{e id\n}",
            "s/x/y",
            "k",
        ] {
            let r = check_script(bad);
            assert!(r.is_err(), "{bad}");
            assert!(!r.unwrap_err().reason.is_empty());
        }
    }
}
