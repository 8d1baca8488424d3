//! `kafclaw envelope validate [--topic NAME] [--strict] [FILE...]`: checks messages
//! against the KafClaw wire protocol and says which field is wrong and why.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use kafclaw_envelope::{TopicKind, ValidateOptions, validate_record};

use crate::{EXIT_FAILURE, EXIT_USAGE};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Validate messages: each FILE holds one JSON message; with no FILE, JSON Lines
    /// (one message per line) are read from standard input.
    ///
    /// Prints one line per message ("<source>: valid", or one "<source>: invalid:
    /// <field>: <reason>" line per problem) and a final count. Exit status: 0 all
    /// valid, 1 some message invalid, 2 usage error (bad --topic, unreadable file).
    #[command(
        after_help = "Examples:\n  kafclaw envelope validate --strict schemas/examples/request.json\n  kcat -C -b localhost:9092 -t group.g.requests -e | kafclaw envelope validate --topic group.g.requests"
    )]
    Validate(ValidateArgs),
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// The topic the messages were read from: also checks that each message's type
    /// is allowed there (e.g. group.research.requests).
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    /// Also require KafClaw's extensions (message_id as a UUIDv7, schema_version, ...)
    /// and reject unknown message types. Without it, any message a Go agent writes is valid.
    #[arg(long)]
    strict: bool,
    /// Files with one JSON message each. Without files, read JSON Lines from stdin.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    unreadable: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Cmd::Validate(args) => validate(args),
    }
}

fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    if let Some(topic) = &args.topic
        && let Err(err) = TopicKind::parse(topic)
    {
        eprintln!("kafclaw: --topic: {err}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let opts = ValidateOptions {
        topic: args.topic.as_deref(),
        strict: args.strict,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut tally = Tally::default();
    if args.files.is_empty() {
        let stdin = std::io::stdin();
        for (index, line) in stdin.lock().split(b'\n').enumerate() {
            let line = match line {
                Ok(line) => line,
                Err(err) => {
                    eprintln!("kafclaw: cannot read standard input: {err}");
                    tally.unreadable += 1;
                    break;
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            report(
                &mut out,
                &format!("stdin:{}", index + 1),
                &line,
                &opts,
                &mut tally,
            )?;
        }
    } else {
        for path in &args.files {
            match std::fs::read(path) {
                Ok(bytes) => report(
                    &mut out,
                    &path.display().to_string(),
                    &bytes,
                    &opts,
                    &mut tally,
                )?,
                Err(err) => {
                    eprintln!("kafclaw: cannot read {}: {err}", path.display());
                    tally.unreadable += 1;
                }
            }
        }
    }
    writeln!(out, "{} valid, {} invalid", tally.valid, tally.invalid)?;
    out.flush()?;
    Ok(if tally.unreadable > 0 {
        ExitCode::from(EXIT_USAGE)
    } else if tally.invalid > 0 {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(
    out: &mut impl Write,
    source: &str,
    record: &[u8],
    opts: &ValidateOptions<'_>,
    tally: &mut Tally,
) -> std::io::Result<()> {
    let violations = validate_record(record, opts);
    if violations.is_empty() {
        tally.valid += 1;
        writeln!(out, "{source}: valid")
    } else {
        tally.invalid += 1;
        for violation in violations {
            writeln!(out, "{source}: invalid: {violation}")?;
        }
        Ok(())
    }
}
