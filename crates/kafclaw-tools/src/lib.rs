//! kafclaw-tools: the tool trait, a registry with a deterministic order, and the
//! built-in tools an agent may call — filesystem tools confined to configured roots
//! (reads included), a shell-free `exec` with an allow-list and argument checks, an
//! SSRF-safe `web_fetch`, plus the attack-intent check for inbound messages.
//!
//! It is NOT the policy engine: whether a caller may run a tool of a given tier is
//! decided by `kafclaw-policy` before [`Registry::execute`] is called, and recording
//! the decision is the caller's job (the timeline). It holds no per-request state:
//! everything about the caller travels in a [`ToolContext`]. It is also not a
//! sandbox: `exec` runs real programs as the agent's user, guarded by static checks
//! (see `docs/tools.md` for what is and is not covered).

mod attack;
mod config;
mod error;
mod exec;
mod fs;
mod registry;
mod schema;
mod tool;
mod web;

pub use attack::{AttackMatch, AttackRule, detect_attack_intent, normalize_for_matching};
pub use config::{
    DEFAULT_ALLOWED_PROGRAMS, ExecConfig, FsConfig, RootConfig, ToolsConfig, WebFetchConfig,
};
pub use error::{Error, Refusal, RefusalRule, Result};
pub use exec::ExecTool;
pub use fs::{EditFileTool, ListDirTool, ReadFileTool, ResolvePathTool, Roots, WriteFileTool};
pub use registry::{Registry, ToolDefinition};
pub use tool::{Tool, ToolContext, ToolOutput};
pub use web::{HostLookup, SystemLookup, WebFetchTool};

/// The tier type is owned by the policy crate; re-exported for convenience.
pub use kafclaw_policy::{ToolTier, TrustClass};
