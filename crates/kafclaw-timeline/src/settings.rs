//! Runtime settings: a key/value table restricted to known keys, each with its own
//! validation (admin guide §7, plus `approval_timeout_seconds`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;

use crate::error::db;
use crate::row::{RowReader, ms, now};
use crate::{Error, Result, Timeline};

/// The settings the timeline accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingKey {
    /// Newline-separated WhatsApp JIDs allowed to talk to the agent.
    WhatsappAllowlist,
    /// Newline-separated WhatsApp JIDs that are blocked.
    WhatsappDenylist,
    /// Newline-separated WhatsApp JIDs awaiting approval.
    WhatsappPending,
    /// WhatsApp pairing token (secret).
    WhatsappPairToken,
    /// Daily model-token budget; 0 (or empty) means unlimited.
    DailyTokenLimit,
    /// Absolute path of the system/identity repository.
    BotRepoPath,
    /// Absolute path of the repository selected in the dashboard.
    SelectedRepoPath,
    /// `true`/`false`: suppress outbound WhatsApp messages (default true).
    SilentMode,
    /// Active group name.
    GroupName,
    /// `true`/`false`: whether the agent takes part in its group.
    GroupActive,
    /// URL of the KafScale LFS proxy.
    KafscaleLfsProxyUrl,
    /// Seconds an approval request waits before it expires.
    ApprovalTimeoutSeconds,
}

impl SettingKey {
    /// Every known key.
    pub const ALL: [SettingKey; 12] = [
        SettingKey::WhatsappAllowlist,
        SettingKey::WhatsappDenylist,
        SettingKey::WhatsappPending,
        SettingKey::WhatsappPairToken,
        SettingKey::DailyTokenLimit,
        SettingKey::BotRepoPath,
        SettingKey::SelectedRepoPath,
        SettingKey::SilentMode,
        SettingKey::GroupName,
        SettingKey::GroupActive,
        SettingKey::KafscaleLfsProxyUrl,
        SettingKey::ApprovalTimeoutSeconds,
    ];

    /// The stored key.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKey::WhatsappAllowlist => "whatsapp_allowlist",
            SettingKey::WhatsappDenylist => "whatsapp_denylist",
            SettingKey::WhatsappPending => "whatsapp_pending",
            SettingKey::WhatsappPairToken => "whatsapp_pair_token",
            SettingKey::DailyTokenLimit => "daily_token_limit",
            SettingKey::BotRepoPath => "bot_repo_path",
            SettingKey::SelectedRepoPath => "selected_repo_path",
            SettingKey::SilentMode => "silent_mode",
            SettingKey::GroupName => "group_name",
            SettingKey::GroupActive => "group_active",
            SettingKey::KafscaleLfsProxyUrl => "kafscale_lfs_proxy_url",
            SettingKey::ApprovalTimeoutSeconds => "approval_timeout_seconds",
        }
    }

    /// Whether the value is a secret that an API must not echo back.
    pub fn is_secret(self) -> bool {
        matches!(self, SettingKey::WhatsappPairToken)
    }

    fn known_list() -> String {
        Self::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks `value` for this key and returns the normalised form that is stored.
    pub fn validate(self, value: &str) -> Result<String> {
        let key = self.as_str();
        let invalid = |reason: String| Error::InvalidSetting { key, reason };
        let v = value.trim();
        match self {
            SettingKey::WhatsappAllowlist
            | SettingKey::WhatsappDenylist
            | SettingKey::WhatsappPending => {
                let mut out = Vec::new();
                for (i, line) in v.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    if line.chars().any(char::is_whitespace) {
                        return Err(invalid(format!(
                            "line {} ({line:?}) contains whitespace; put one JID per line",
                            i + 1
                        )));
                    }
                    out.push(line);
                }
                Ok(out.join("\n"))
            }
            SettingKey::WhatsappPairToken => {
                if v.contains(['\n', '\r']) {
                    return Err(invalid("must be a single line".into()));
                }
                Ok(v.to_owned())
            }
            SettingKey::DailyTokenLimit => {
                if v.is_empty() {
                    return Ok("0".into());
                }
                v.parse::<u64>()
                    .map(|n| n.to_string())
                    .map_err(|_| invalid(format!("{v:?} is not a non-negative integer")))
            }
            SettingKey::BotRepoPath | SettingKey::SelectedRepoPath => {
                if v.is_empty() || Path::new(v).is_absolute() {
                    Ok(v.to_owned())
                } else {
                    Err(invalid(format!("{v:?} is not an absolute path")))
                }
            }
            SettingKey::SilentMode | SettingKey::GroupActive => {
                match v.to_ascii_lowercase().as_str() {
                    "true" => Ok("true".into()),
                    "false" => Ok("false".into()),
                    _ => Err(invalid(format!("{v:?} must be \"true\" or \"false\""))),
                }
            }
            SettingKey::GroupName => {
                if v.len() > 200 {
                    return Err(invalid("longer than 200 characters".into()));
                }
                if let Some(c) = v
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                {
                    return Err(invalid(format!(
                        "{c:?} is not allowed; use letters, digits, '.', '_' and '-' (it becomes part of topic names)"
                    )));
                }
                Ok(v.to_owned())
            }
            SettingKey::KafscaleLfsProxyUrl => {
                if v.is_empty() {
                    return Ok(String::new());
                }
                let rest = v
                    .strip_prefix("http://")
                    .or_else(|| v.strip_prefix("https://"))
                    .ok_or_else(|| invalid(format!("{v:?} must start with http:// or https://")))?;
                if rest.is_empty() || rest.starts_with('/') {
                    return Err(invalid(format!("{v:?} has no host")));
                }
                if v.chars().any(char::is_whitespace) {
                    return Err(invalid(format!("{v:?} contains whitespace")));
                }
                Ok(v.to_owned())
            }
            SettingKey::ApprovalTimeoutSeconds => match v.parse::<u64>() {
                Ok(n) if (1..=604_800).contains(&n) => Ok(n.to_string()),
                _ => Err(invalid(format!(
                    "{v:?} must be a whole number of seconds between 1 and 604800"
                ))),
            },
        }
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SettingKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::UnknownSetting {
                key: s.to_owned(),
                known: Self::known_list(),
            })
    }
}

/// A stored setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// Key.
    pub key: String,
    /// Value (normalised).
    pub value: String,
    /// Whether it is a secret (APIs should not echo the value).
    pub secret: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn setting_from_row(row: &SqliteRow) -> Result<Setting> {
    let r = RowReader::new(row, "settings");
    let key: String = r.get("key")?;
    let secret = key
        .parse::<SettingKey>()
        .map(SettingKey::is_secret)
        .unwrap_or(true);
    Ok(Setting {
        key,
        value: r.get("value")?,
        secret,
        updated_at: r.ts("updated_at")?,
    })
}

impl Timeline {
    /// Validates and stores a setting. Unknown keys and invalid values are refused with
    /// an error naming the key.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<Setting> {
        let key: SettingKey = key.parse()?;
        let value = key.validate(value)?;
        let row = sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
             RETURNING *",
        )
        .bind(key.as_str())
        .bind(value)
        .bind(ms(now()))
        .fetch_one(&self.pool)
        .await
        .map_err(db("storing a setting"))?;
        setting_from_row(&row)
    }

    /// The stored setting for a known key (`None` if never set).
    pub async fn get_setting(&self, key: &str) -> Result<Option<Setting>> {
        let key: SettingKey = key.parse()?;
        let row = sqlx::query("SELECT * FROM settings WHERE key = ?")
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a setting"))?;
        row.as_ref().map(setting_from_row).transpose()
    }

    /// Removes a setting; returns whether it existed.
    pub async fn delete_setting(&self, key: &str) -> Result<bool> {
        let key: SettingKey = key.parse()?;
        let done = sqlx::query("DELETE FROM settings WHERE key = ?")
            .bind(key.as_str())
            .execute(&self.pool)
            .await
            .map_err(db("deleting a setting"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every stored setting, by key.
    pub async fn list_settings(&self) -> Result<Vec<Setting>> {
        let rows = sqlx::query("SELECT * FROM settings ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing settings"))?;
        rows.iter().map(setting_from_row).collect()
    }

    /// `daily_token_limit` as a number (0 = unlimited, also when unset).
    pub async fn daily_token_limit(&self) -> Result<u64> {
        let Some(s) = self
            .get_setting(SettingKey::DailyTokenLimit.as_str())
            .await?
        else {
            return Ok(0);
        };
        s.value.parse().map_err(|_| Error::CorruptRow {
            table: "settings",
            column: "value",
            reason: format!("daily_token_limit {:?} is not a number", s.value),
        })
    }

    /// `silent_mode` (true when unset, as documented).
    pub async fn silent_mode(&self) -> Result<bool> {
        Ok(self
            .get_setting(SettingKey::SilentMode.as_str())
            .await?
            .is_none_or(|s| s.value != "false"))
    }

    /// `group_active` (false when unset).
    pub async fn group_active(&self) -> Result<bool> {
        Ok(self
            .get_setting(SettingKey::GroupActive.as_str())
            .await?
            .is_some_and(|s| s.value == "true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_name() {
        for k in SettingKey::ALL {
            assert_eq!(k.as_str().parse::<SettingKey>().unwrap(), k);
        }
    }

    #[test]
    fn validation_normalises_and_rejects() {
        let ok = |k: SettingKey, v: &str| k.validate(v).unwrap();
        let bad = |k: SettingKey, v: &str| k.validate(v).unwrap_err().to_string();
        assert_eq!(ok(SettingKey::DailyTokenLimit, " 100000 "), "100000");
        assert_eq!(ok(SettingKey::DailyTokenLimit, ""), "0");
        assert!(bad(SettingKey::DailyTokenLimit, "-5").contains("daily_token_limit"));
        assert_eq!(ok(SettingKey::SilentMode, "TRUE"), "true");
        assert!(bad(SettingKey::GroupActive, "yes").contains("group_active"));
        assert_eq!(
            ok(
                SettingKey::WhatsappAllowlist,
                "a@s.whatsapp.net\n\n  b@s.whatsapp.net \n"
            ),
            "a@s.whatsapp.net\nb@s.whatsapp.net"
        );
        assert!(bad(SettingKey::WhatsappDenylist, "a b").contains("line 1"));
        assert!(bad(SettingKey::BotRepoPath, "relative/dir").contains("absolute"));
        assert_eq!(ok(SettingKey::BotRepoPath, "/srv/bot"), "/srv/bot");
        assert!(bad(SettingKey::GroupName, "my group").contains("' '"));
        assert_eq!(ok(SettingKey::GroupName, "team-a.prod"), "team-a.prod");
        assert!(bad(SettingKey::KafscaleLfsProxyUrl, "ftp://x").contains("http"));
        assert!(bad(SettingKey::KafscaleLfsProxyUrl, "http:///x").contains("no host"));
        assert_eq!(
            ok(SettingKey::KafscaleLfsProxyUrl, "https://lfs.example:8443"),
            "https://lfs.example:8443"
        );
        assert!(bad(SettingKey::ApprovalTimeoutSeconds, "0").contains("between 1"));
        assert!(bad(SettingKey::WhatsappPairToken, "a\nb").contains("single line"));
    }
}
