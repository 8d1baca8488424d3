//! `--probe-topics`: the group's 11 topics and the skill topics named in its roster
//! manifest, each with partitions, leaders and watermarks, and this agent's lag
//! from the offsets stored in its timeline (opened read-only, never created).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kafclaw_envelope::{Decoded, GroupTopic, Message, decode_record_on};
use kafclaw_group::{KafkaTransport, OffsetQuery, Transport};

use crate::probe::GroupProbe;
use crate::report::{Layer, PartitionInfo, Status, TopicReport};
use crate::run::{Outcome, Run};
use crate::wire::{MetaTopic, error_name};

/// At most this many roster records (the newest) are read for the manifest.
const MAX_MANIFEST_RECORDS: i64 = 10_000;

/// Next offsets per topic and partition.
type Offsets = HashMap<String, HashMap<i32, i64>>;

impl Run<'_> {
    pub(crate) async fn group_topics(&mut self, g: &GroupProbe) {
        let group = g.group.as_str().to_owned();
        let target = format!("group.{group}.*");
        if !self.broker_ok {
            self.skip(
                "group_metadata",
                Layer::Topics,
                &target,
                "no bootstrap broker passed the connection checks",
            );
            return;
        }
        let t = self.probe.timeouts;
        let roster = g.group.topic(GroupTopic::Roster);

        // The skill topics, from the roster manifest.
        let client = self.client().await;
        let skill_topics = match &client {
            Some(tr) => {
                let tr = Arc::clone(tr);
                let roster_topic = roster.clone();
                let prefix = g.group.skill_topic_prefix();
                self.check(
                    "manifest",
                    Layer::Topics,
                    &roster,
                    t.check + t.kafka,
                    async move { read_manifest(&tr, &roster_topic, &prefix).await },
                )
                .await
                .unwrap_or_default()
            }
            None => {
                self.skip(
                    "manifest",
                    Layer::Topics,
                    &roster,
                    "the Kafka client could not connect",
                );
                Vec::new()
            }
        };

        // Metadata of every topic to probe.
        let mut names: Vec<(String, &'static str)> = g
            .group
            .all_topics()
            .into_iter()
            .map(|n| (n, "group"))
            .collect();
        names.extend(skill_topics.into_iter().map(|n| (n, "skill")));
        let Some(mut conn) = self.conn.take() else {
            self.skip(
                "group_metadata",
                Layer::Topics,
                &target,
                "no authenticated connection to a broker",
            );
            return;
        };
        let wanted: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
        let md = self
            .check("group_metadata", Layer::Topics, &target, t.kafka, async {
                match conn.metadata(Some(&wanted)).await {
                    Ok(md) => {
                        let existing = md.topics.iter().filter(|t| t.error_code == 0).count();
                        Outcome::Ok(
                            md,
                            format!("{existing} of {} topic(s) exist", wanted.len()),
                        )
                    }
                    Err(e) => Outcome::Fail(
                        format!("metadata of the group topics: {e}"),
                        "the broker did not describe the topics: check DESCRIBE ACLs on group.<name>.*".to_owned(),
                    ),
                }
            })
            .await;
        self.conn = Some(conn);
        let Some(md) = md else {
            return;
        };

        let offsets = self.stored_offsets(g).await;
        for (name, kind) in names {
            let meta = md.topics.iter().find(|m| m.name == name);
            self.topic_row(&name, kind, meta, client.as_ref(), offsets.as_ref())
                .await;
        }
    }

    async fn topic_row(
        &mut self,
        name: &str,
        kind: &str,
        meta: Option<&MetaTopic>,
        client: Option<&Arc<KafkaTransport>>,
        offsets: Option<&Offsets>,
    ) {
        let limit = self.probe.timeouts.check + self.probe.timeouts.kafka;
        let missing = |reason: String, hint: String| Outcome::<TopicReport>::Fail(reason, hint);
        let report = match meta {
            None => {
                let start = self.begin("group_topic", Layer::Topics, name);
                self.record(
                    "group_topic",
                    Layer::Topics,
                    name,
                    Status::Fail,
                    Some(start.elapsed()),
                    "the broker did not describe this topic".to_owned(),
                    Some("check DESCRIBE ACLs on the topic".to_owned()),
                );
                TopicReport {
                    topic: name.to_owned(),
                    kind: kind.to_owned(),
                    exists: false,
                    partitions: Vec::new(),
                    total_lag: None,
                }
            }
            Some(m) => {
                let committed = offsets.map(|o| o.get(name).cloned().unwrap_or_default());
                let tr = client.cloned();
                let topic = name.to_owned();
                let kind_s = kind.to_owned();
                let group_hint = if kind == "skill" {
                    "the skill provider creates its skill topics when it registers the skill; check that it runs and may create topics".to_owned()
                } else {
                    "an agent creates the group topics when it joins the group (kafclaw group join); check the group name, and DESCRIBE ACLs on group.<name>.*".to_owned()
                };
                let produced = self
                    .check("group_topic", Layer::Topics, name, limit, async move {
                        match m.error_code {
                            0 => {}
                            3 => return missing("does not exist".to_owned(), group_hint),
                            29 => {
                                return missing(
                                    "not authorized to describe it (TOPIC_AUTHORIZATION_FAILED)"
                                        .to_owned(),
                                    format!("grant DESCRIBE on {topic} to this user"),
                                );
                            }
                            code => {
                                return missing(
                                    format!("Kafka error {} ({code})", error_name(code)),
                                    "the broker log has the reason".to_owned(),
                                );
                            }
                        }
                        topic_report(&topic, &kind_s, m, tr.as_deref(), committed).await
                    })
                    .await;
                produced.unwrap_or(TopicReport {
                    topic: name.to_owned(),
                    kind: kind.to_owned(),
                    exists: m.error_code != 3,
                    partitions: Vec::new(),
                    total_lag: None,
                })
            }
        };
        self.topics.push(report);
    }

    /// The agent's stored offsets, read-only; `None` (with a note) when unavailable.
    async fn stored_offsets(&mut self, g: &GroupProbe) -> Option<Offsets> {
        let (Some(path), Some(agent)) = (&g.timeline_db, &g.agent_id) else {
            self.notes.push(
                "lag not computed: no agent timeline given (run on the agent's machine, where KAFCLAW_HOME holds timeline.db)".to_owned(),
            );
            return None;
        };
        if !path.is_file() {
            self.notes.push(format!(
                "lag not computed: no timeline database at {} (not an agent's machine?)",
                path.display()
            ));
            return None;
        }
        match read_offsets(path, agent).await {
            Ok(o) => {
                if o.is_empty() {
                    self.notes.push(format!(
                        "the timeline at {} has no stored offsets for agent {agent:?}",
                        path.display()
                    ));
                }
                Some(o)
            }
            Err(e) => {
                self.notes.push(format!(
                    "lag not computed: cannot read offsets from {}: {e}",
                    path.display()
                ));
                None
            }
        }
    }
}

async fn topic_report(
    topic: &str,
    kind: &str,
    m: &MetaTopic,
    tr: Option<&KafkaTransport>,
    committed: Option<HashMap<i32, i64>>,
) -> Outcome<TopicReport> {
    if m.partitions.is_empty() {
        return Outcome::Fail(
            "the topic has no partitions in the metadata".to_owned(),
            "the topic may be being deleted or created: check again".to_owned(),
        );
    }
    let mut partitions = Vec::new();
    let mut problems = Vec::new();
    for p in &m.partitions {
        let (mut low, mut high) = (None, None);
        if let Some(tr) = tr
            && p.leader >= 0
        {
            match tr.offset(topic, p.index, OffsetQuery::Earliest).await {
                Ok(o) => low = Some(o),
                Err(e) => problems.push(format!("partition {}: {e}", p.index)),
            }
            match tr.offset(topic, p.index, OffsetQuery::Latest).await {
                Ok(o) => high = Some(o),
                Err(e) => problems.push(format!("partition {}: {e}", p.index)),
            }
        }
        let stored = committed.as_ref().and_then(|c| c.get(&p.index).copied());
        let lag = match (high, stored) {
            (Some(h), Some(c)) => Some((h - c).max(0)),
            _ => None,
        };
        partitions.push(PartitionInfo {
            partition: p.index,
            leader: p.leader,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            low_watermark: low,
            high_watermark: high,
            committed: stored,
            lag,
        });
    }
    let total_lag = committed
        .as_ref()
        .map(|_| partitions.iter().filter_map(|p| p.lag).sum::<i64>());
    let join = |f: &dyn Fn(&PartitionInfo) -> String| {
        partitions.iter().map(f).collect::<Vec<_>>().join("/")
    };
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut detail = format!(
        "{} partition(s), leader(s) {}, high watermark(s) {}",
        partitions.len(),
        join(&|p| p.leader.to_string()),
        join(&|p| opt(p.high_watermark)),
    );
    match (&committed, total_lag) {
        (Some(c), Some(total)) if !c.is_empty() => {
            detail.push_str(&format!(", lag {total} ({})", join(&|p| opt(p.lag))));
        }
        (Some(_), _) => detail.push_str(", no stored offsets for this topic"),
        _ => {}
    }
    let leaderless: Vec<String> = partitions
        .iter()
        .filter(|p| p.leader < 0)
        .map(|p| p.partition.to_string())
        .collect();
    let report = TopicReport {
        topic: topic.to_owned(),
        kind: kind.to_owned(),
        exists: true,
        partitions,
        total_lag,
    };
    if !leaderless.is_empty() {
        return Outcome::Warn(
            report,
            format!(
                "{detail}; no leader for partition(s) {}",
                leaderless.join(",")
            ),
            "those partitions are offline: a broker that holds them is down".to_owned(),
        );
    }
    if tr.is_none() {
        return Outcome::Warn(
            report,
            format!("{detail}; watermarks unavailable"),
            "the Kafka client could not connect, so offsets were not looked up".to_owned(),
        );
    }
    if !problems.is_empty() {
        return Outcome::Warn(
            report,
            format!("{detail}; offset lookups failed: {}", problems.join("; ")),
            "check READ/DESCRIBE ACLs on the topic and the partition leaders".to_owned(),
        );
    }
    Outcome::Ok(report, detail)
}

/// Reads the roster topic and collects the skill topic names of every manifest in it.
async fn read_manifest(tr: &KafkaTransport, roster: &str, prefix: &str) -> Outcome<Vec<String>> {
    let partitions = match tr.partitions(roster).await {
        Ok(ps) => ps,
        Err(kafclaw_group::Error::UnknownTopic { .. }) => {
            return Outcome::Skip(format!("{roster} does not exist, so there is no manifest"));
        }
        Err(e) => {
            return Outcome::Fail(
                format!("cannot look up {roster}: {e}"),
                "check DESCRIBE and READ ACLs on the roster topic".to_owned(),
            );
        }
    };
    let mut manifests = 0usize;
    let mut others = 0usize;
    let mut skills = BTreeSet::new();
    for p in partitions {
        let read = async {
            let reader = tr.reader(roster, p).await?;
            let low = reader.offset(OffsetQuery::Earliest).await?;
            let high = reader.offset(OffsetQuery::Latest).await?;
            let mut next = low.max(high - MAX_MANIFEST_RECORDS);
            while next < high {
                let batch = reader.fetch(next, Duration::from_millis(200)).await?;
                if batch.records.is_empty() {
                    break;
                }
                for r in batch.records {
                    next = r.offset + 1;
                    match decode_record_on(roster, &r.value) {
                        Ok(Decoded::Group { envelope, .. }) => match envelope.message {
                            Message::Roster(m) => {
                                manifests += 1;
                                skills.extend(
                                    m.skill_topics
                                        .into_iter()
                                        .map(|d| d.name)
                                        .filter(|n| n.starts_with(prefix) && legal_topic(n)),
                                );
                            }
                            _ => others += 1,
                        },
                        _ => others += 1,
                    }
                }
            }
            Ok::<_, kafclaw_group::Error>(())
        };
        if let Err(e) = read.await {
            return Outcome::Fail(
                format!("cannot read {roster}/{p}: {e}"),
                "check READ ACLs on the roster topic".to_owned(),
            );
        }
    }
    let skills: Vec<String> = skills.into_iter().collect();
    let mut detail = format!(
        "{manifests} manifest record(s), {} skill topic(s)",
        skills.len()
    );
    if others > 0 {
        detail.push_str(&format!(", {others} other record(s)"));
    }
    if manifests == 0 {
        return Outcome::Warn(
            skills,
            format!("{detail}: no manifest yet"),
            "agents write the topic manifest when they join; until then skill topics are unknown"
                .to_owned(),
        );
    }
    Outcome::Ok(skills, detail)
}

fn legal_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= kafclaw_envelope::MAX_TOPIC_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Reads `consumer_offsets` of one agent from a timeline database, read-only: the
/// agent may be running, and opening it through kafclaw-timeline would migrate
/// the schema and recover its in-flight tasks.
pub(crate) async fn read_offsets(path: &Path, agent_id: &str) -> Result<Offsets, String> {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(2));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Result<Vec<(String, i64, i64)>, _> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE agent_id = ?",
    )
    .bind(agent_id)
    .fetch_all(&mut conn)
    .await;
    let _ = conn.close().await;
    let rows = rows.map_err(|e| e.to_string())?;
    let mut out: Offsets = HashMap::new();
    for (topic, partition, next) in rows {
        if let Ok(p) = i32::try_from(partition) {
            out.entry(topic).or_default().insert(p, next);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_checked() {
        assert!(legal_topic("group.g.skill.x.requests"));
        assert!(!legal_topic("group.g.skill.x y"));
        assert!(!legal_topic(""));
    }

    #[tokio::test]
    async fn offsets_are_read_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("timeline.db");
        assert!(read_offsets(&missing, "a").await.is_err());
        assert!(!missing.exists(), "a read must never create the database");
    }
}
