//! Zones: who may see which agents and tasks (public, shared, private).

use std::collections::{BTreeMap, BTreeSet};

use kafclaw_envelope::{Timestamp, Zone, ZoneVisibility};

use crate::error::{Error, Result};

/// The built-in zone every agent is in.
pub const PUBLIC_ZONE: &str = "public";

/// Checks a zone id: ASCII letters, digits, `_`, `-` (it becomes part of topic names).
pub fn check_zone_id(key: &str, zone: &str) -> Result<()> {
    let ok = !zone.is_empty()
        && zone.len() <= 200
        && zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            key: key.to_owned(),
            reason: format!("zone id {zone:?} must be 1 to 200 ASCII letters, digits, '_' or '-'"),
        })
    }
}

/// Parses a visibility name.
pub fn parse_visibility(key: &str, v: &str) -> Result<ZoneVisibility> {
    match v {
        "public" => Ok(ZoneVisibility::Public),
        "shared" => Ok(ZoneVisibility::Shared),
        "private" => Ok(ZoneVisibility::Private),
        other => Err(Error::Config {
            key: key.to_owned(),
            reason: format!("visibility must be public, shared or private, got {other:?}"),
        }),
    }
}

/// The zone graph: zone definitions by id. Membership of a non-public zone is its
/// owner plus its `allowed_ids`, as the owner defines them; everybody is in a public
/// zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    zones: BTreeMap<String, Zone>,
}

impl Default for Zones {
    fn default() -> Self {
        Self::new()
    }
}

impl Zones {
    /// Only the built-in `public` zone.
    pub fn new() -> Self {
        let public = Zone {
            zone_id: PUBLIC_ZONE.into(),
            name: "Public".into(),
            visibility: ZoneVisibility::Public.as_str().into(),
            owner_id: String::new(),
            parent_zone: String::new(),
            allowed_ids: Vec::new(),
            created_at: Timestamp::now(),
        };
        Self {
            zones: BTreeMap::from([(PUBLIC_ZONE.to_owned(), public)]),
        }
    }

    /// Adds a zone; refused when the id exists or the definition is invalid.
    pub fn create(&mut self, zone: Zone) -> Result<()> {
        check_zone_id("zone_id", &zone.zone_id)?;
        parse_visibility("visibility", &zone.visibility)?;
        if let Some(old) = self.zones.get(&zone.zone_id) {
            return Err(Error::ZoneExists {
                zone: zone.zone_id.clone(),
                owner: old.owner_id.clone(),
            });
        }
        self.zones.insert(zone.zone_id.clone(), zone);
        Ok(())
    }

    /// Replaces a zone's definition (same id); `public` cannot be replaced.
    pub fn replace(&mut self, zone: Zone) -> Result<()> {
        check_zone_id("zone_id", &zone.zone_id)?;
        parse_visibility("visibility", &zone.visibility)?;
        if zone.zone_id == PUBLIC_ZONE {
            return Err(Error::Config {
                key: "zone_id".into(),
                reason: "the public zone is built in".into(),
            });
        }
        self.zones.insert(zone.zone_id.clone(), zone);
        Ok(())
    }

    /// Deletes a zone; `public` cannot be deleted, an unknown zone is fine.
    pub fn delete(&mut self, zone: &str) -> Result<Option<Zone>> {
        if zone == PUBLIC_ZONE {
            return Err(Error::Config {
                key: "zone_id".into(),
                reason: "the public zone cannot be deleted".into(),
            });
        }
        Ok(self.zones.remove(zone))
    }

    /// Adds `agent` to the zone's members (its `allowed_ids`); idempotent.
    pub fn add_member(&mut self, zone: &str, agent: &str) -> Result<()> {
        let z = self.zones.get_mut(zone).ok_or_else(|| Error::UnknownZone {
            zone: zone.to_owned(),
        })?;
        if z.owner_id != agent && !z.allowed_ids.iter().any(|a| a == agent) {
            z.allowed_ids.push(agent.to_owned());
        }
        Ok(())
    }

    /// The zone with this id.
    pub fn get(&self, zone: &str) -> Option<&Zone> {
        self.zones.get(zone)
    }

    /// Every zone, by id.
    pub fn all(&self) -> impl Iterator<Item = &Zone> {
        self.zones.values()
    }

    /// Number of zones (public included).
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// Never true: `public` is always there.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// Whether `agent` may take part in `zone`: unknown zone no; public yes; shared and
    /// private: the owner and the listed members.
    pub fn is_allowed(&self, zone: &str, agent: &str) -> bool {
        let Some(z) = self.zones.get(zone) else {
            return false;
        };
        match parse_visibility("", &z.visibility) {
            Ok(ZoneVisibility::Public) => true,
            Ok(_) => z.owner_id == agent || z.allowed_ids.iter().any(|a| a == agent),
            Err(_) => false,
        }
    }

    /// Members of `zone` among `known` agents (every known agent for a public zone;
    /// the owner and listed members otherwise, known or not), sorted.
    pub fn members<'a>(&self, zone: &str, known: impl Iterator<Item = &'a str>) -> Vec<String> {
        let Some(z) = self.zones.get(zone) else {
            return Vec::new();
        };
        let set: BTreeSet<String> = if z.visibility == ZoneVisibility::Public.as_str() {
            known.map(str::to_owned).collect()
        } else {
            std::iter::once(z.owner_id.clone())
                .filter(|o| !o.is_empty())
                .chain(z.allowed_ids.iter().cloned())
                .collect()
        };
        set.into_iter().collect()
    }

    /// Zones `agent` is allowed in, by id.
    pub fn zones_of(&self, agent: &str) -> Vec<String> {
        self.zones
            .keys()
            .filter(|z| self.is_allowed(z, agent))
            .cloned()
            .collect()
    }

    /// Whether `viewer` may see `agent`, whose home zone is `home_zone`: an agent
    /// at home in a private zone (and allowed there) is seen only by that zone's
    /// members; every other agent by everyone.
    pub fn can_see(&self, viewer: &str, agent: &str, home_zone: &str) -> bool {
        if viewer == agent {
            return true;
        }
        match self.zones.get(home_zone) {
            Some(z)
                if z.visibility == ZoneVisibility::Private.as_str()
                    && self.is_allowed(home_zone, agent) =>
            {
                self.is_allowed(home_zone, viewer)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(id: &str, vis: &str, owner: &str, allowed: &[&str]) -> Zone {
        Zone {
            zone_id: id.into(),
            name: id.into(),
            visibility: vis.into(),
            owner_id: owner.into(),
            allowed_ids: allowed.iter().map(|s| (*s).to_owned()).collect(),
            ..Zone::default()
        }
    }

    #[test]
    fn visibility_rules() {
        let mut z = Zones::new();
        z.create(zone("red", "private", "a", &["b"])).unwrap();
        z.create(zone("bridge", "shared", "a", &["c"])).unwrap();
        assert!(z.is_allowed("public", "anyone"));
        assert!(z.is_allowed("red", "a") && z.is_allowed("red", "b"));
        assert!(!z.is_allowed("red", "c"));
        assert!(z.is_allowed("bridge", "c") && !z.is_allowed("bridge", "b"));
        assert!(!z.is_allowed("nowhere", "a"));
        assert_eq!(z.members("red", ["x"].into_iter()), ["a", "b"]);
        assert_eq!(z.members("public", ["x", "a"].into_iter()), ["a", "x"]);
        assert_eq!(z.zones_of("b"), ["public", "red"]);
        // b is at home in a private zone: c (outside it) cannot see b, a can.
        assert!(!z.can_see("c", "b", "red"));
        assert!(z.can_see("a", "b", "red"));
        assert!(z.can_see("b", "b", "red"));
        // A home zone the agent is not allowed in hides nothing; shared zones neither.
        assert!(z.can_see("c", "x", "red"));
        assert!(z.can_see("b", "c", "bridge"));
        assert!(z.can_see("b", "lonely", ""));
    }

    #[test]
    fn management() {
        let mut z = Zones::new();
        z.create(zone("red", "private", "a", &[])).unwrap();
        assert!(matches!(
            z.create(zone("red", "shared", "b", &[])),
            Err(Error::ZoneExists { .. })
        ));
        assert!(z.create(zone("a.b", "shared", "b", &[])).is_err());
        assert!(z.create(zone("blue", "secret", "b", &[])).is_err());
        z.add_member("red", "b").unwrap();
        z.add_member("red", "b").unwrap();
        assert_eq!(z.get("red").unwrap().allowed_ids, ["b"]);
        assert!(matches!(
            z.add_member("nowhere", "b"),
            Err(Error::UnknownZone { .. })
        ));
        assert!(z.delete("public").is_err());
        assert!(z.delete("nowhere").unwrap().is_none());
        assert!(z.delete("red").unwrap().is_some());
        assert_eq!(z.len(), 1);
    }
}
