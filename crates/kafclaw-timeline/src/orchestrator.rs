//! Orchestrator state: hierarchy nodes, zones and zone members (tables of schema 4).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;

use crate::error::db;
use crate::row::{RowReader, ms, now, require};
use crate::{Error, Result, Timeline};

/// One node of the orchestrator hierarchy as last known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrchestratorNode {
    /// Agent id.
    pub agent_id: String,
    /// Display name.
    pub agent_name: String,
    /// Parent agent id, empty at a root.
    pub parent_id: String,
    /// `orchestrator`, `worker` or `observer`.
    pub role: String,
    /// Reachable endpoint.
    pub endpoint: String,
    /// Home zone.
    pub zone_id: String,
    /// `active`, `stale` or `inactive`.
    pub status: String,
    /// When this row was last written (set by the store).
    pub updated_at: DateTime<Utc>,
}

/// A zone with its members as last known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrchestratorZone {
    /// Zone id.
    pub zone_id: String,
    /// Display name.
    pub name: String,
    /// `public`, `shared` or `private`.
    pub visibility: String,
    /// Owning agent id.
    pub owner_id: String,
    /// Parent zone id.
    pub parent_zone: String,
    /// Agents the owner lists as allowed.
    pub allowed_ids: Vec<String>,
    /// Members (agent ids), sorted.
    pub members: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

fn node_from_row(row: &SqliteRow) -> Result<OrchestratorNode> {
    let r = RowReader::new(row, "orchestrator_hierarchy");
    Ok(OrchestratorNode {
        agent_id: r.get("agent_id")?,
        agent_name: r.get("agent_name")?,
        parent_id: r.get("parent_id")?,
        role: r.get("role")?,
        endpoint: r.get("endpoint")?,
        zone_id: r.get("zone_id")?,
        status: r.get("status")?,
        updated_at: r.ts("updated_at")?,
    })
}

impl Timeline {
    /// Inserts or replaces a hierarchy node; `updated_at` is set to now.
    pub async fn upsert_orchestrator_node(&self, node: &OrchestratorNode) -> Result<()> {
        require("agent_id", &node.agent_id)?;
        sqlx::query(
            "INSERT INTO orchestrator_hierarchy \
             (agent_id, agent_name, parent_id, role, endpoint, zone_id, status, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (agent_id) DO UPDATE SET agent_name = excluded.agent_name, \
             parent_id = excluded.parent_id, role = excluded.role, endpoint = excluded.endpoint, \
             zone_id = excluded.zone_id, status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(&node.agent_id)
        .bind(&node.agent_name)
        .bind(&node.parent_id)
        .bind(&node.role)
        .bind(&node.endpoint)
        .bind(&node.zone_id)
        .bind(&node.status)
        .bind(ms(now()))
        .execute(&self.pool)
        .await
        .map_err(db("storing an orchestrator node"))?;
        Ok(())
    }

    /// Removes a hierarchy node and moves its children to its parent, in one
    /// transaction; false when there was no such node.
    pub async fn remove_orchestrator_node(&self, agent_id: &str) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("removing an orchestrator node"))?;
        let parent: Option<String> =
            sqlx::query_scalar("SELECT parent_id FROM orchestrator_hierarchy WHERE agent_id = ?")
                .bind(agent_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("removing an orchestrator node"))?;
        let Some(parent) = parent else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE orchestrator_hierarchy SET parent_id = ?, updated_at = ? WHERE parent_id = ?",
        )
        .bind(&parent)
        .bind(ms(now()))
        .bind(agent_id)
        .execute(&mut *tx)
        .await
        .map_err(db("re-parenting orchestrator nodes"))?;
        sqlx::query("DELETE FROM orchestrator_hierarchy WHERE agent_id = ?")
            .bind(agent_id)
            .execute(&mut *tx)
            .await
            .map_err(db("removing an orchestrator node"))?;
        tx.commit()
            .await
            .map_err(db("removing an orchestrator node"))?;
        Ok(true)
    }

    /// Every hierarchy node, by agent id.
    pub async fn list_orchestrator_nodes(&self) -> Result<Vec<OrchestratorNode>> {
        let rows = sqlx::query("SELECT * FROM orchestrator_hierarchy ORDER BY agent_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing orchestrator nodes"))?;
        rows.iter().map(node_from_row).collect()
    }

    /// Inserts or replaces a zone and replaces its member set, in one transaction.
    pub async fn upsert_orchestrator_zone(&self, zone: &OrchestratorZone) -> Result<()> {
        require("zone_id", &zone.zone_id)?;
        let allowed =
            serde_json::to_string(&zone.allowed_ids).map_err(|e| Error::InvalidInput {
                field: "allowed_ids",
                reason: e.to_string(),
            })?;
        let at = ms(now());
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("storing an orchestrator zone"))?;
        sqlx::query(
            "INSERT INTO orchestrator_zones \
             (zone_id, name, visibility, owner_id, parent_zone, allowed_ids, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (zone_id) DO UPDATE SET name = excluded.name, \
             visibility = excluded.visibility, owner_id = excluded.owner_id, \
             parent_zone = excluded.parent_zone, allowed_ids = excluded.allowed_ids, \
             updated_at = excluded.updated_at",
        )
        .bind(&zone.zone_id)
        .bind(&zone.name)
        .bind(&zone.visibility)
        .bind(&zone.owner_id)
        .bind(&zone.parent_zone)
        .bind(allowed)
        .bind(ms(zone.created_at))
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db("storing an orchestrator zone"))?;
        sqlx::query("DELETE FROM orchestrator_zone_members WHERE zone_id = ?")
            .bind(&zone.zone_id)
            .execute(&mut *tx)
            .await
            .map_err(db("storing orchestrator zone members"))?;
        for member in &zone.members {
            sqlx::query(
                "INSERT INTO orchestrator_zone_members (zone_id, agent_id, role, joined_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(&zone.zone_id)
            .bind(member)
            .bind(if *member == zone.owner_id {
                "owner"
            } else {
                "member"
            })
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db("storing orchestrator zone members"))?;
        }
        tx.commit()
            .await
            .map_err(db("storing an orchestrator zone"))?;
        Ok(())
    }

    /// Deletes a zone and its members; false when there was no such zone.
    pub async fn delete_orchestrator_zone(&self, zone_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM orchestrator_zones WHERE zone_id = ?")
            .bind(zone_id)
            .execute(&self.pool)
            .await
            .map_err(db("deleting an orchestrator zone"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Every zone with its members, by zone id.
    pub async fn list_orchestrator_zones(&self) -> Result<Vec<OrchestratorZone>> {
        let rows = sqlx::query("SELECT * FROM orchestrator_zones ORDER BY zone_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing orchestrator zones"))?;
        let members: Vec<(String, String)> = sqlx::query_as(
            "SELECT zone_id, agent_id FROM orchestrator_zone_members ORDER BY zone_id, agent_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing orchestrator zone members"))?;
        rows.iter()
            .map(|row| {
                let r = RowReader::new(row, "orchestrator_zones");
                let zone_id: String = r.get("zone_id")?;
                let allowed = r.json("allowed_ids")?;
                let allowed_ids = allowed
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(OrchestratorZone {
                    members: members
                        .iter()
                        .filter(|(z, _)| *z == zone_id)
                        .map(|(_, a)| a.clone())
                        .collect(),
                    name: r.get("name")?,
                    visibility: r.get("visibility")?,
                    owner_id: r.get("owner_id")?,
                    parent_zone: r.get("parent_zone")?,
                    allowed_ids,
                    created_at: r.ts("created_at")?,
                    zone_id,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimelineOptions;

    fn node(id: &str, parent: &str) -> OrchestratorNode {
        OrchestratorNode {
            agent_id: id.into(),
            agent_name: String::new(),
            parent_id: parent.into(),
            role: "worker".into(),
            endpoint: String::new(),
            zone_id: "red".into(),
            status: "active".into(),
            updated_at: now(),
        }
    }

    #[tokio::test]
    async fn nodes_and_zones_round_trip_and_removal_reparents() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::open(TimelineOptions::new(dir.path().join("t.db")))
            .await
            .unwrap();
        for n in [node("root", ""), node("mid", "root"), node("leaf", "mid")] {
            tl.upsert_orchestrator_node(&n).await.unwrap();
        }
        let mut changed = node("leaf", "mid");
        changed.role = "observer".into();
        tl.upsert_orchestrator_node(&changed).await.unwrap();
        assert!(tl.remove_orchestrator_node("mid").await.unwrap());
        assert!(!tl.remove_orchestrator_node("mid").await.unwrap());
        let nodes = tl.list_orchestrator_nodes().await.unwrap();
        let ids: Vec<(&str, &str, &str)> = nodes
            .iter()
            .map(|n| (n.agent_id.as_str(), n.parent_id.as_str(), n.role.as_str()))
            .collect();
        assert_eq!(ids, [("leaf", "root", "observer"), ("root", "", "worker")]);

        let zone = OrchestratorZone {
            zone_id: "red".into(),
            name: "Red".into(),
            visibility: "private".into(),
            owner_id: "root".into(),
            parent_zone: String::new(),
            allowed_ids: vec!["leaf".into()],
            members: vec!["leaf".into(), "root".into()],
            created_at: now(),
        };
        tl.upsert_orchestrator_zone(&zone).await.unwrap();
        let mut smaller = zone.clone();
        smaller.members = vec!["root".into()];
        tl.upsert_orchestrator_zone(&smaller).await.unwrap();
        assert_eq!(tl.list_orchestrator_zones().await.unwrap(), [smaller]);
        assert!(tl.delete_orchestrator_zone("red").await.unwrap());
        assert!(tl.list_orchestrator_zones().await.unwrap().is_empty());
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orchestrator_zone_members")
            .fetch_one(&tl.pool)
            .await
            .unwrap();
        assert_eq!(count, 0, "members go with their zone");
        assert!(tl.upsert_orchestrator_node(&node("", "")).await.is_err());
    }
}
