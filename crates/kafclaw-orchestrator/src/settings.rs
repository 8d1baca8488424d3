//! What one orchestrator is configured with, from kafclaw-config or by hand.

use std::time::Duration;

use kafclaw_config::OrchestratorConfig;
use kafclaw_envelope::{Timestamp, Zone};

use crate::error::{Error, Result};
use crate::zones::{PUBLIC_ZONE, check_zone_id, parse_visibility};

/// Settings of one orchestrator.
#[derive(Debug, Clone)]
pub struct OrchestratorSettings {
    /// The group (`{g}` in topic names).
    pub group: String,
    /// Our agent id.
    pub agent_id: String,
    /// Our display name.
    pub agent_name: String,
    /// `orchestrator`, `worker` or `observer`.
    pub role: String,
    /// Home zone (empty for none).
    pub zone_id: String,
    /// Parent agent (empty for none).
    pub parent_id: String,
    /// Reachable endpoint.
    pub endpoint: String,
    /// Time between discoveries; three of them without news make a node stale.
    pub discovery_interval: Duration,
    /// Agents accepted in the `orchestrator` role besides our parent.
    pub trusted_orchestrators: Vec<String>,
    /// Zones we own (owner is set to us).
    pub zones: Vec<Zone>,
    /// Read only: no discovery is published and no zone topic is read (the CLI).
    pub passive: bool,
    /// Partitions of the topics we create.
    pub topic_partitions: i32,
    /// Replication factor of the topics we create.
    pub replication_factor: i16,
}

impl OrchestratorSettings {
    /// Defaults: worker, no zone, no parent, discovery every 30 s, 3 partitions.
    pub fn new(group: impl Into<String>, agent_id: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            agent_id: agent_id.into(),
            agent_name: String::new(),
            role: "worker".into(),
            zone_id: String::new(),
            parent_id: String::new(),
            endpoint: String::new(),
            discovery_interval: Duration::from_secs(30),
            trusted_orchestrators: Vec::new(),
            zones: Vec::new(),
            passive: false,
            topic_partitions: 3,
            replication_factor: 1,
        }
    }

    /// From the `orchestrator` section of the configuration.
    pub fn from_config(
        cfg: &OrchestratorConfig,
        group: impl Into<String>,
        agent_id: impl Into<String>,
    ) -> Result<Self> {
        let mut s = Self::new(group, agent_id);
        s.role = if cfg.role.is_empty() {
            "worker".into()
        } else {
            cfg.role.clone()
        };
        s.zone_id = cfg.zone_id.clone();
        s.parent_id = cfg.parent_id.clone();
        s.endpoint = cfg.endpoint.clone();
        s.discovery_interval = Duration::from_secs(cfg.discovery_interval_secs);
        s.trusted_orchestrators = cfg.trusted_orchestrators.clone();
        for (id, z) in &cfg.zones {
            s = s.zone(
                id,
                if z.name.is_empty() { id } else { &z.name },
                &z.visibility,
                z.allowed_ids.iter().cloned(),
            )?;
        }
        Ok(s)
    }

    /// Adds a zone owned by us.
    pub fn zone(
        mut self,
        id: &str,
        name: &str,
        visibility: &str,
        members: impl IntoIterator<Item = String>,
    ) -> Result<Self> {
        let key = format!("orchestrator.zones.{id}");
        check_zone_id(&key, id)?;
        if id == PUBLIC_ZONE {
            return Err(Error::Config {
                key,
                reason: "the public zone is built in".into(),
            });
        }
        parse_visibility(&format!("{key}.visibility"), visibility)?;
        self.zones.push(Zone {
            zone_id: id.into(),
            name: name.into(),
            visibility: visibility.into(),
            owner_id: self.agent_id.clone(),
            parent_zone: String::new(),
            allowed_ids: members.into_iter().collect(),
            created_at: Timestamp::now(),
        });
        Ok(self)
    }

    /// Checks the settings (also done by `start`); the error names the config key.
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::Config {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.agent_id.trim().is_empty() {
            return bad("group.agentId", "must not be empty");
        }
        if !matches!(self.role.as_str(), "orchestrator" | "worker" | "observer") {
            return bad(
                "orchestrator.role",
                "must be orchestrator, worker or observer",
            );
        }
        if !self.zone_id.is_empty() {
            check_zone_id("orchestrator.zoneId", &self.zone_id)?;
        }
        let secs = self.discovery_interval.as_secs();
        if !(1..=86_400).contains(&secs) {
            return bad(
                "orchestrator.discoveryIntervalSecs",
                "must be between 1 and 86400 seconds",
            );
        }
        if self.parent_id == self.agent_id {
            return bad("orchestrator.parentId", "an agent cannot be its own parent");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_config_takes_role_zones_and_trust() {
        let mut cfg = OrchestratorConfig {
            role: String::new(),
            parent_id: "lead".into(),
            trusted_orchestrators: vec!["boss".into()],
            discovery_interval_secs: 5,
            ..OrchestratorConfig::default()
        };
        cfg.zones.insert(
            "red".into(),
            kafclaw_config::ZoneConfig {
                visibility: "private".into(),
                allowed_ids: vec!["b".into()],
                ..Default::default()
            },
        );
        let s = OrchestratorSettings::from_config(&cfg, "g", "a").unwrap();
        assert_eq!(s.role, "worker");
        assert_eq!(s.discovery_interval, Duration::from_secs(5));
        assert_eq!(s.zones.len(), 1);
        let red = &s.zones[0];
        assert_eq!(
            (
                red.zone_id.as_str(),
                red.name.as_str(),
                red.owner_id.as_str()
            ),
            ("red", "red", "a")
        );
        assert_eq!(red.allowed_ids, ["b"]);
        s.check().unwrap();

        cfg.zones.get_mut("red").unwrap().visibility = "secret".into();
        let err = OrchestratorSettings::from_config(&cfg, "g", "a").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("orchestrator.zones.red.visibility:"),
            "{err}"
        );
        let mut s = OrchestratorSettings::new("g", "a");
        s.discovery_interval = Duration::from_secs(u64::MAX);
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("orchestrator.discoveryIntervalSecs")
        );
        s.discovery_interval = Duration::from_secs(30);
        s.parent_id = "a".into();
        assert!(s.check().is_err());
        s.parent_id = String::new();
        s.role = "boss".into();
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("orchestrator.role")
        );
        assert!(
            OrchestratorSettings::new("g", "a")
                .zone("public", "p", "public", [])
                .is_err()
        );
    }
}
