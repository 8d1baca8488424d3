//! KafScale LFS pointer records (`kfs_lfs`): the proxy's stand-in for a payload kept in S3.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A KafScale LFS envelope: where a blob lives in object storage.
///
/// It appears as a whole Kafka record value (a pointer record written by the
/// LFS proxy in place of the real payload) and inside [`crate::MemoryItem`]
/// (`lfs_envelope`). The ten Go fields are always written; `original_headers`
/// (kept by the proxy, dropped by Go KafClaw) only when non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(transform = lfs_required)]
pub struct LfsEnvelope {
    /// Format version, 1. Its presence is what marks a pointer record.
    #[schemars(range(min = 1))]
    pub kfs_lfs: i64,
    /// Object-storage bucket.
    #[schemars(length(min = 1))]
    pub bucket: String,
    /// Object key.
    #[schemars(length(min = 1))]
    pub key: String,
    /// Blob size in bytes.
    #[schemars(range(min = 0))]
    pub size: i64,
    /// Hex SHA-256 of the blob.
    #[schemars(length(min = 1))]
    pub sha256: String,
    /// Checksum named by `checksum_alg`.
    pub checksum: String,
    /// `sha256`, `md5`, `crc32` or `none` (empty when the proxy sent none).
    #[schemars(extend("enum" = ["sha256", "md5", "crc32", "none", ""]))]
    pub checksum_alg: String,
    /// MIME type of the blob.
    pub content_type: String,
    /// When the proxy stored the blob (RFC 3339 text).
    pub created_at: String,
    /// Which proxy stored it.
    pub proxy_id: String,
    /// Allow-listed headers of the original record.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub original_headers: BTreeMap<String, String>,
}

/// The fields a pointer must have to be resolvable (KafScale's own rule).
const LFS_REQUIRED: [&str; 5] = ["kfs_lfs", "bucket", "key", "size", "sha256"];

fn lfs_required(schema: &mut Schema) {
    schema.insert("required".into(), serde_json::json!(LFS_REQUIRED));
}

impl LfsEnvelope {
    /// Checks what a consumer needs to resolve the pointer: a version, a bucket,
    /// a key and a SHA-256 (KafScale's consumer refuses pointers without them).
    pub fn check(&self) -> Result<()> {
        let missing = |path: &str| Error::InvalidLfsPointer {
            path: path.to_owned(),
            reason: "required field is missing or empty".to_owned(),
        };
        if self.kfs_lfs < 1 {
            return Err(Error::InvalidLfsPointer {
                path: "/kfs_lfs".to_owned(),
                reason: format!("version must be 1 or more, got {}", self.kfs_lfs),
            });
        }
        if self.bucket.is_empty() {
            return Err(missing("/bucket"));
        }
        if self.key.is_empty() {
            return Err(missing("/key"));
        }
        if self.sha256.is_empty() {
            return Err(missing("/sha256"));
        }
        if self.size < 0 {
            return Err(Error::InvalidLfsPointer {
                path: "/size".to_owned(),
                reason: format!("size must not be negative, got {}", self.size),
            });
        }
        Ok(())
    }
}

/// KafScale's cheap test for a pointer record: at least 15 bytes, a leading `{`,
/// and `"kfs_lfs"` within the first 50 bytes.
///
/// [`crate::decode_record`] does not rely on this alone: it also recognises a
/// pointer whose `kfs_lfs` key comes later, by looking at the parsed object.
pub fn looks_like_lfs_pointer(record: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"kfs_lfs\"";
    record.len() >= 15
        && record[0] == b'{'
        && record[..record.len().min(50)]
            .windows(NEEDLE.len())
            .any(|w| w == NEEDLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_kafscale() {
        assert!(looks_like_lfs_pointer(
            br#"{"kfs_lfs":1,"bucket":"b","key":"k","size":1,"sha256":"x"}"#
        ));
        assert!(!looks_like_lfs_pointer(br#"{"kfs_lfs":1}"#)); // too short
        assert!(!looks_like_lfs_pointer(br#" {"kfs_lfs":1,"bucket":"b"}"#));
        assert!(!looks_like_lfs_pointer(
            br#"{"type":"memory","correlation_id":"mem-1","payload":{"lfs_envelope":{"kfs_lfs":1}}}"#
        ));
        assert!(!looks_like_lfs_pointer(b""));
    }

    #[test]
    fn check_names_the_missing_field() {
        let mut env = LfsEnvelope {
            kfs_lfs: 1,
            bucket: "b".into(),
            key: "k".into(),
            sha256: "abc".into(),
            ..LfsEnvelope::default()
        };
        assert_eq!(env.check(), Ok(()));
        env.key.clear();
        assert!(
            matches!(env.check(), Err(Error::InvalidLfsPointer { path, .. }) if path == "/key")
        );
        env.kfs_lfs = 0;
        assert!(
            matches!(env.check(), Err(Error::InvalidLfsPointer { path, .. }) if path == "/kfs_lfs")
        );
    }
}
