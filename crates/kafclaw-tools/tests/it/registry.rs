//! Registry order, registration rules, argument validation and the context.

use std::sync::Arc;

use async_trait::async_trait;
use kafclaw_tools::{Error, Registry, Tool, ToolContext, ToolOutput, ToolTier, TrustClass};
use serde_json::{Value, json};

use crate::support::{Fixture, ctx};

/// Echoes its context, to show what a tool receives.
struct Probe {
    name: &'static str,
    schema: Value,
}

#[async_trait]
impl Tool for Probe {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "test probe"
    }
    fn parameters(&self) -> Value {
        self.schema.clone()
    }
    fn tier(&self) -> ToolTier {
        ToolTier::ReadOnly
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> kafclaw_tools::Result<ToolOutput> {
        Ok(ToolOutput::text(format!(
            "{:?} {:?} {:?} {:?} {:?} {}",
            ctx.trust, ctx.sender, ctx.channel, ctx.trace_id, ctx.task_id, args
        )))
    }
}

fn probe(name: &'static str) -> Arc<dyn Tool> {
    Arc::new(Probe {
        name,
        schema: json!({"type": "object", "properties": {"q": {"type": "string"}}, "additionalProperties": false}),
    })
}

#[test]
fn builtin_tools_are_listed_in_name_order_with_their_tiers() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let names: Vec<&str> = reg.names().collect();
    assert_eq!(
        names,
        [
            "edit_file",
            "exec",
            "list_dir",
            "read_file",
            "resolve_path",
            "web_fetch",
            "write_file"
        ]
    );
    let tiers: Vec<(String, u8)> = reg
        .definitions()
        .into_iter()
        .map(|d| (d.name, u8::from(d.tier)))
        .collect();
    assert_eq!(
        tiers,
        [
            ("edit_file".to_owned(), 1),
            ("exec".to_owned(), 2),
            ("list_dir".to_owned(), 0),
            ("read_file".to_owned(), 0),
            ("resolve_path".to_owned(), 0),
            ("web_fetch".to_owned(), 2),
            ("write_file".to_owned(), 1)
        ]
    );
    let json = serde_json::to_value(reg.definitions()).expect("serialize");
    assert_eq!(json[1]["name"], "exec");
    assert_eq!(json[1]["tier"], 2);

    let mut cfg = fx.config();
    cfg.exec.enabled = false;
    cfg.web_fetch.enabled = false;
    let reg = Registry::with_builtin_tools(&cfg).expect("registry");
    assert_eq!(reg.len(), 5);
    assert!(reg.get("exec").is_none());
}

#[test]
fn order_does_not_depend_on_registration_order() {
    let mut a = Registry::new();
    let mut b = Registry::new();
    for n in ["zeta", "alpha", "mid_1"] {
        a.register(probe(n)).expect("register");
    }
    for n in ["mid_1", "zeta", "alpha"] {
        b.register(probe(n)).expect("register");
    }
    let na: Vec<&str> = a.names().collect();
    let nb: Vec<&str> = b.names().collect();
    assert_eq!(na, ["alpha", "mid_1", "zeta"]);
    assert_eq!(na, nb);
    assert_eq!(a.definitions(), b.definitions());
}

#[test]
fn bad_registrations_are_refused_with_the_tool_name() {
    let mut reg = Registry::new();
    reg.register(probe("dup")).expect("first");
    assert!(
        matches!(reg.register(probe("dup")), Err(Error::InvalidTool { name, .. }) if name == "dup")
    );
    for bad in ["", "Upper", "1abc", "has-dash", "sp ace"] {
        assert!(reg.register(probe(bad)).is_err(), "{bad:?}");
    }
    let unsupported: Arc<dyn Tool> = Arc::new(Probe {
        name: "weird",
        schema: json!({"type": "object", "properties": {"a": {"type": "string", "format": "uri"}}}),
    });
    match reg.register(unsupported) {
        Err(Error::InvalidTool { name, problem }) => {
            assert_eq!(name, "weird");
            assert!(problem.contains("format"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!reg.is_empty() && reg.len() == 1);
}

#[tokio::test]
async fn arguments_are_validated_against_the_schema_naming_the_argument() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let c = ctx();
    let cases = [
        ("read_file", json!({}), "path"),
        ("read_file", json!({"path": 3}), "path"),
        ("read_file", json!({"path": "x", "offset": -1}), "offset"),
        ("read_file", json!({"path": "x", "pth": "y"}), "pth"),
        ("write_file", json!({"path": "x"}), "content"),
        (
            "edit_file",
            json!({"path": "x", "old_text": "", "new_text": "y"}),
            "old_text",
        ),
        ("exec", json!({"command": ["ls"]}), "command"),
        (
            "web_fetch",
            json!({"url": "http://x", "max_bytes": 0}),
            "max_bytes",
        ),
        ("list_dir", json!("not an object"), "(arguments)"),
    ];
    for (tool, args, expected) in cases {
        match reg.execute(tool, args.clone(), &c).await {
            Err(Error::InvalidArgument {
                tool: t,
                argument,
                problem,
            }) => {
                assert_eq!(t, tool);
                assert_eq!(argument, expected, "{tool} {args}: {problem}");
                assert!(!problem.is_empty());
            }
            other => panic!("{tool} {args}: {other:?}"),
        }
    }
    assert!(matches!(
        reg.execute("nope", json!({}), &c).await,
        Err(Error::UnknownTool { name }) if name == "nope"
    ));
}

#[tokio::test]
async fn the_context_reaches_the_tool_per_call() {
    let mut reg = Registry::new();
    reg.register(probe("probe")).expect("register");
    let peer = ToolContext::new(TrustClass::Peer)
        .with_sender("agent-7")
        .with_task_id("t-9");
    let out = reg
        .execute("probe", json!({"q": "x"}), &peer)
        .await
        .expect("run");
    assert_eq!(
        out.content,
        r#"Peer Some("agent-7") None None Some("t-9") {"q":"x"}"#
    );
    let owner = ctx();
    let out = reg.execute("probe", json!({}), &owner).await.expect("run");
    assert!(
        out.content
            .starts_with(r#"Owner Some("test") Some("cli") Some("trace-1") Some("task-1")"#)
    );
}
