//! Tool risk tiers and sender trust classes.

use serde::{Deserialize, Serialize};

/// How much harm a tool can do. Ordered: a higher tier needs more trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum ToolTier {
    /// Tier 0: reads only (read_file, list_dir, resolve_path, memory search).
    ReadOnly = 0,
    /// Tier 1: writes inside the configured roots (write_file, edit_file, memory writes).
    Write = 1,
    /// Tier 2: runs programs or reaches the network (exec, web_fetch).
    HighRisk = 2,
}

impl From<ToolTier> for u8 {
    fn from(t: ToolTier) -> u8 {
        t as u8
    }
}

impl TryFrom<u8> for ToolTier {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(Self::ReadOnly),
            1 => Ok(Self::Write),
            2 => Ok(Self::HighRisk),
            other => Err(format!("tool tier must be 0, 1 or 2, got {other}")),
        }
    }
}

/// Who sent the message that led to a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustClass {
    /// The operator: CLI, local API with a valid token, scheduler.
    Owner,
    /// Another agent of our Kafka group.
    Peer,
    /// Anyone else: chat channels, unauthenticated senders.
    External,
}

impl TrustClass {
    /// All classes, in increasing order of distrust.
    pub const ALL: [TrustClass; 3] = [TrustClass::Owner, TrustClass::Peer, TrustClass::External];

    /// The stable text form (`owner`, `peer`, `external`), the same as the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustClass::Owner => "owner",
            TrustClass::Peer => "peer",
            TrustClass::External => "external",
        }
    }
}

impl std::fmt::Display for TrustClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TrustClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "owner" => Ok(TrustClass::Owner),
            "peer" => Ok(TrustClass::Peer),
            "external" => Ok(TrustClass::External),
            other => Err(format!(
                "trust class must be owner, peer or external, got {other:?}"
            )),
        }
    }
}

impl std::fmt::Display for ToolTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", *self as u8)
    }
}
