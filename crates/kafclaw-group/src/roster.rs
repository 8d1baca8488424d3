//! The live roster: who announced itself within the expiry window.
//!
//! Entries are keyed by the envelope's `sender_id` (which must equal the identity's
//! `agent_id`). `last_seen` is the record's time, never later than now, so a
//! heartbeat read again from the look-back window does not make a dead agent look
//! alive; an entry is dropped after the configured number of missed heartbeats.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kafclaw_envelope::AgentIdentity;

/// One member of the group as this agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Agent id.
    pub agent_id: String,
    /// The identity from its last announce.
    pub identity: AgentIdentity,
    /// When this agent first saw it in the current membership.
    pub first_seen: DateTime<Utc>,
    /// Time of its last announce (record time).
    pub last_seen: DateTime<Utc>,
    /// True for this agent itself.
    pub is_self: bool,
}

impl Member {
    /// The role it announced (empty for Go agents that announce none).
    pub fn role(&self) -> &str {
        &self.identity.role
    }

    /// The zone it announced.
    pub fn zone(&self) -> &str {
        &self.identity.zone_id
    }

    /// Its parent in the hierarchy.
    pub fn parent(&self) -> &str {
        &self.identity.parent_id
    }
}

/// What an announce did to the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RosterChange {
    /// A member that was not in the roster.
    Added,
    /// A known member's identity changed.
    Changed,
    /// Only `last_seen` moved.
    Seen,
    /// The member left.
    Removed,
    /// Nothing changed (a stale record, or a leave of an unknown agent).
    Unchanged,
}

/// The in-memory roster.
#[derive(Debug)]
pub(crate) struct Roster {
    members: BTreeMap<String, Member>,
    expiry: Duration,
}

impl Roster {
    pub(crate) fn new(expiry: Duration) -> Self {
        Self {
            members: BTreeMap::new(),
            expiry,
        }
    }

    fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.expiry).unwrap_or(chrono::Duration::MAX)
    }

    /// A join or heartbeat seen at `seen` (clamped to `now`).
    pub(crate) fn seen(
        &mut self,
        identity: AgentIdentity,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
        is_self: bool,
    ) -> RosterChange {
        let seen = seen.min(now);
        if seen < self.cutoff(now) {
            return RosterChange::Unchanged;
        }
        match self.members.get_mut(&identity.agent_id) {
            Some(m) => {
                if seen < m.last_seen {
                    return RosterChange::Unchanged;
                }
                m.last_seen = seen;
                if m.identity != identity {
                    m.identity = identity;
                    RosterChange::Changed
                } else {
                    RosterChange::Seen
                }
            }
            None => {
                self.members.insert(
                    identity.agent_id.clone(),
                    Member {
                        agent_id: identity.agent_id.clone(),
                        identity,
                        first_seen: seen,
                        last_seen: seen,
                        is_self,
                    },
                );
                RosterChange::Added
            }
        }
    }

    /// A leave.
    pub(crate) fn left(&mut self, agent_id: &str) -> RosterChange {
        match self.members.remove(agent_id) {
            Some(_) => RosterChange::Removed,
            None => RosterChange::Unchanged,
        }
    }

    /// Drops members not seen within the expiry window; returns their ids.
    pub(crate) fn expire(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let cutoff = self.cutoff(now);
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_self && m.last_seen < cutoff)
            .map(|m| m.agent_id.clone())
            .collect();
        for id in &gone {
            self.members.remove(id);
        }
        gone
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, agent_id: &str) -> bool {
        self.members.contains_key(agent_id)
    }

    /// Members other than this agent, by id.
    pub(crate) fn others(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| !m.is_self)
    }

    /// Every member, by agent id.
    pub(crate) fn snapshot(&self) -> Vec<Member> {
        self.members.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(agent: &str, role: &str) -> AgentIdentity {
        let mut i = AgentIdentity::new(agent, agent);
        i.role = role.into();
        i
    }

    #[test]
    fn heartbeats_keep_members_and_silence_expires_them() {
        let now = Utc::now();
        let s = chrono::Duration::seconds;
        let mut r = Roster::new(Duration::from_secs(90));
        assert_eq!(
            r.seen(id("a", "w"), now - s(10), now, false),
            RosterChange::Added
        );
        assert_eq!(
            r.seen(id("a", "w"), now - s(5), now, false),
            RosterChange::Seen
        );
        assert_eq!(
            r.seen(id("a", "x"), now - s(4), now, false),
            RosterChange::Changed
        );
        // An older record (replay) does not move last_seen back or change the identity.
        assert_eq!(
            r.seen(id("a", "y"), now - s(8), now, false),
            RosterChange::Unchanged
        );
        assert_eq!(r.snapshot()[0].identity.role, "x");
        // Records older than the window never enter the roster.
        assert_eq!(
            r.seen(id("b", ""), now - s(91), now, false),
            RosterChange::Unchanged
        );
        // A record from the future counts as now.
        assert_eq!(
            r.seen(id("c", ""), now + s(60), now, false),
            RosterChange::Added
        );
        assert_eq!(r.snapshot()[1].last_seen, now);
        assert!(r.expire(now + s(80)).is_empty());
        assert_eq!(r.expire(now + s(87)), vec!["a".to_string()]);
        assert_eq!(r.expire(now + s(91)), vec!["c".to_string()]);
        assert!(r.snapshot().is_empty());
    }

    #[test]
    fn leave_removes_and_self_never_expires() {
        let now = Utc::now();
        let mut r = Roster::new(Duration::from_secs(1));
        r.seen(id("me", ""), now, now, true);
        r.seen(id("b", ""), now, now, false);
        assert_eq!(r.left("b"), RosterChange::Removed);
        assert_eq!(r.left("b"), RosterChange::Unchanged);
        assert!(r.expire(now + chrono::Duration::seconds(60)).is_empty());
        assert!(r.contains("me"));
        assert_eq!(r.others().count(), 0);
    }
}
