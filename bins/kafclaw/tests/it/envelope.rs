//! Tests of `kafclaw envelope validate` through the real binary, on the golden
//! examples under schemas/examples and on bad input.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples")
}

fn example_files(prefix_go: bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .expect("schemas/examples exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("go-") == prefix_go && !name.starts_with("lfs-")
        })
        .collect();
    files.sort();
    files
}

fn validate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .args(["envelope", "validate"])
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kafclaw");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("run kafclaw")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn paths(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|p| p.display().to_string()).collect()
}

#[test]
fn our_golden_examples_are_valid_in_strict_mode() {
    let files = paths(&example_files(false));
    assert_eq!(files.len(), 19);
    let mut args: Vec<&str> = vec!["--strict"];
    args.extend(files.iter().map(String::as_str));
    let output = validate(&args, None);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    for file in &files {
        assert!(
            out.contains(&format!("{file}: valid\n")),
            "{file} missing in {out}"
        );
    }
    assert!(out.ends_with("19 valid, 0 invalid\n"), "{out}");
}

#[test]
fn go_examples_are_valid_but_fail_strict_mode() {
    let files = paths(&example_files(true));
    assert_eq!(files.len(), 19);
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let output = validate(&args, None);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("19 valid, 0 invalid\n"));

    let go_request = examples().join("go-request.json").display().to_string();
    let output = validate(&["--strict", &go_request], None);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains(&format!(
            "{go_request}: invalid: /message_id: required in strict mode"
        )),
        "{out}"
    );
    assert!(
        out.contains("/schema_version: required in strict mode"),
        "{out}"
    );
    assert!(out.ends_with("0 valid, 1 invalid\n"), "{out}");
}

#[test]
fn json_lines_on_stdin_report_the_bad_line_and_field() {
    let ok = std::fs::read_to_string(examples().join("go-request.json")).expect("example");
    let ok: serde_json::Value = serde_json::from_str(&ok).expect("json");
    let mut bad = ok.clone();
    bad["payload"]["task_id"] = serde_json::json!(42);
    let input = format!("{ok}\n\n{}\n{bad}\n{{\"type\": \n", serde_json::json!([1]));
    let output = validate(&[], Some(&input));
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "stdin:1: valid",
            "stdin:3: invalid: expected a JSON object (an envelope), got an array",
            "stdin:4: invalid: /payload/task_id: expected a string, got 42",
            "stdin:5: invalid: record is not valid JSON at line 1, column 9: EOF while parsing a value",
            "1 valid, 3 invalid",
        ]
    );
}

#[test]
fn topic_checks_the_type_is_allowed_there() {
    let announce = examples().join("go-announce.json").display().to_string();
    let output = validate(&["--topic", "group.workshop.requests", &announce], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(
            "invalid: /type: type \"announce\" is not allowed on topic group.workshop.requests (allowed: request, heartbeat)"
        ),
        "{}",
        stdout(&output)
    );
    let status = examples().join("go-task_status.json").display().to_string();
    let output = validate(&["--topic", "group.workshop.responses", &status], None);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let vote = examples().join("knowledge-vote.json").display().to_string();
    let output = validate(
        &[
            "--topic",
            "group.research.knowledge.votes",
            "--strict",
            &vote,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn usage_errors_exit_2() {
    let output = validate(&["--topic", "orders"], Some(""));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--topic: topic \"orders\" is not a KafClaw topic"),
        "{}",
        stderr(&output)
    );

    let missing = examples().join("no-such-file.json").display().to_string();
    let request = examples().join("request.json").display().to_string();
    let output = validate(&[&missing, &request], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("cannot read {missing}")),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains(&format!("{request}: valid")),
        "the other file is still checked"
    );

    let output = validate(&["--no-such-flag"], None);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_empty_file_is_invalid_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("kafclaw-envelope-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let empty = dir.join("empty.json");
    std::fs::write(&empty, b"").expect("write");
    let output = validate(&[&empty.display().to_string()], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(
            "invalid: record is not valid JSON at line 1, column 0: EOF while parsing a value"
        ),
        "{}",
        stdout(&output)
    );
}
