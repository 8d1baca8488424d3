//! Shared-memory items (`memory.shared` and `memory.context`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{LfsEnvelope, Timestamp};

/// Payload of envelope type `memory` on `group.{g}.memory.shared` and
/// `group.{g}.memory.context`.
///
/// Large content travels through LFS (`lfs_envelope` points at it), small content
/// inline in `content` (our extension); context items carry an expiry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MemoryItem {
    /// Item id (`mem-<ns>` / `ctx-<ns>` in Go); also the envelope's correlation id.
    pub item_id: String,
    /// Agent id of the author.
    pub author_id: String,
    /// Title (Go receivers index only this).
    pub title: String,
    /// MIME type of the content.
    pub content_type: String,
    /// Tags. Go may write `null`.
    #[schemars(with = "Option<Vec<String>>")]
    pub tags: Vec<String>,
    /// Where the content lives; `null` when nothing was uploaded (always written).
    pub lfs_envelope: Option<LfsEnvelope>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry; absent means permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Free string metadata (omitted when empty).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub metadata: BTreeMap<String, String>,
    /// Extension: the content itself, for items small enough to travel inline
    /// (absent when the content is behind `lfs_envelope`, and in Go's messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}
