//! proptest strategies for every wire type. With `valid = true` they only produce
//! values the schemas accept (enumerated fields from their lists, patterns
//! respected); otherwise any strings.

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDate, TimeZone};
use kafclaw_envelope::*;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;

pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_ -]{0,12}",
        2 => "(?s).{0,12}",
        1 => Just(String::new()),
    ]
}

pub fn nonblank() -> impl Strategy<Value = String> {
    ("(?s).{0,4}", "[a-zA-Z0-9]{1,8}", "(?s).{0,4}").prop_map(|(a, b, c)| a + &b + &c)
}

pub fn strings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

/// An enumerated field: one of `names`, or (when not `valid`) any text.
pub fn choice(names: &'static [&'static str], valid: bool) -> BoxedStrategy<String> {
    let named = select(names).prop_map(str::to_owned);
    if valid {
        named.boxed()
    } else {
        prop_oneof![3 => named, 1 => text()].boxed()
    }
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        1i32..=9999,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop_oneof![Just(0u32), 0u32..1_000_000_000, Just(500_000_000u32)],
        prop_oneof![Just(0i32), -1439i32..=1439],
    )
        .prop_map(|(y, mo, d, h, mi, s, ns, off)| {
            let naive = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_nano_opt(h, mi, s, ns)
                .unwrap();
            let offset = FixedOffset::east_opt(off * 60).unwrap();
            Timestamp::from_datetime(offset.from_local_datetime(&naive).unwrap())
        })
        .prop_filter("not the zero time", |t| !t.is_zero())
}

fn hex(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(b"0123456789abcdef".as_slice()), len)
        .prop_map(|bytes| String::from_utf8(bytes).unwrap())
}

pub fn base64() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..40).prop_map(|bytes| encode_base64(&bytes))
}

fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn uuid7() -> impl Strategy<Value = String> {
    (0u64..(1 << 48), any::<[u8; 10]>()).prop_map(|(ms, random)| {
        uuid::Builder::from_unix_timestamp_millis(ms, &random)
            .into_uuid()
            .hyphenated()
            .to_string()
    })
}

pub fn traceparent() -> impl Strategy<Value = String> {
    (hex(31), hex(15), select(&["00", "01"][..])).prop_map(|(t, s, f)| format!("00-1{t}-1{s}-{f}"))
}

pub fn signature(valid: bool) -> impl Strategy<Value = Signature> {
    let alg = if valid {
        nonblank().boxed()
    } else {
        text().boxed()
    };
    let sig = if valid {
        base64().boxed()
    } else {
        text().boxed()
    };
    (alg, text(), sig).prop_map(|(alg, key_id, sig)| Signature { alg, key_id, sig })
}

pub fn identity(valid: bool) -> impl Strategy<Value = AgentIdentity> {
    let public_key = if valid {
        prop::option::of(base64()).boxed()
    } else {
        prop::option::of(text()).boxed()
    };
    (
        (text(), text(), text(), strings(), strings(), text(), text()),
        (
            text(),
            text(),
            text(),
            text(),
            text(),
            strings(),
            public_key,
        ),
    )
        .prop_map(
            |(
                (agent_id, agent_name, soul_summary, capabilities, channels, model, joined_at),
                (status, parent_id, zone_id, endpoint, role, skills, public_key),
            )| AgentIdentity {
                agent_id,
                agent_name,
                soul_summary,
                capabilities,
                channels,
                model,
                joined_at,
                status,
                parent_id,
                zone_id,
                endpoint,
                role,
                skills,
                public_key,
            },
        )
}

pub fn task_request() -> impl Strategy<Value = TaskRequest> {
    (
        (text(), text(), text(), text(), text()),
        (
            any::<i64>(),
            text(),
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
    )
        .prop_map(
            |(
                (task_id, description, content, requester_id, parent_task_id),
                (delegation_depth, original_requester_id, deadline_at, skill, target_id),
            )| TaskRequest {
                task_id,
                description,
                content,
                requester_id,
                parent_task_id,
                delegation_depth,
                original_requester_id,
                deadline_at,
                skill,
                target_id,
            },
        )
}

pub fn task_response(valid: bool) -> impl Strategy<Value = TaskResponse> {
    (text(), text(), text(), choice(ResponseStatus::NAMES, valid)).prop_map(
        |(task_id, responder_id, content, status)| TaskResponse {
            task_id,
            responder_id,
            content,
            status,
        },
    )
}

pub fn task_status(valid: bool) -> impl Strategy<Value = TaskStatusPayload> {
    (text(), text(), choice(TaskState::NAMES, valid), text()).prop_map(
        |(task_id, responder_id, status, summary)| TaskStatusPayload {
            task_id,
            responder_id,
            status,
            summary,
        },
    )
}

pub fn trace() -> impl Strategy<Value = TracePayload> {
    (
        (text(), text(), text(), text(), text()),
        (text(), text(), text(), any::<i64>()),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent_span_id, span_type, title),
                (content, started_at, ended_at, duration_ms),
            )| TracePayload {
                trace_id,
                span_id,
                parent_span_id,
                span_type,
                title,
                content,
                started_at,
                ended_at,
                duration_ms,
            },
        )
}

pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub fn audit(valid: bool) -> impl Strategy<Value = AuditPayload> {
    (
        text(),
        prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..4),
    )
        .prop_map(move |(event_type, extra)| {
            let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
            if valid {
                map.insert("event_type".into(), Value::String(event_type));
                for key in ["detail", "agent_id", "skill_name", "requests_topic"] {
                    if map.get(key).is_some_and(|v| !v.is_string()) {
                        map.remove(key);
                    }
                }
            }
            AuditPayload(map)
        })
}

pub fn descriptor(valid: bool) -> impl Strategy<Value = TopicDescriptor> {
    (
        text(),
        choice(TopicCategory::NAMES, valid),
        text(),
        strings(),
    )
        .prop_map(|(name, category, description, consumers)| TopicDescriptor {
            name,
            category,
            description,
            consumers,
        })
}

pub fn manifest(valid: bool) -> impl Strategy<Value = TopicManifest> {
    (
        text(),
        any::<i64>(),
        prop::collection::vec(descriptor(valid), 0..3),
        prop::collection::vec(descriptor(valid), 0..3),
        timestamp(),
        text(),
    )
        .prop_map(
            |(group_name, version, core_topics, skill_topics, updated_at, updated_by)| {
                TopicManifest {
                    group_name,
                    version,
                    core_topics,
                    skill_topics,
                    updated_at,
                    updated_by,
                }
            },
        )
}

pub fn onboard(valid: bool) -> impl Strategy<Value = OnboardPayload> {
    (
        (choice(OnboardAction::NAMES, valid), text(), text()),
        (
            prop::option::of(identity(valid)),
            strings(),
            text(),
            text(),
            prop::option::of(manifest(valid)),
            text(),
        ),
    )
        .prop_map(
            |(
                (action, requester_id, sponsor_id),
                (identity, skills, challenge, response, manifest, reason),
            )| OnboardPayload {
                action,
                requester_id,
                sponsor_id,
                identity,
                skills,
                challenge,
                response,
                manifest,
                reason,
            },
        )
}

pub fn lfs(valid: bool) -> impl Strategy<Value = LfsEnvelope> {
    let required = || {
        if valid {
            nonblank().boxed()
        } else {
            text().boxed()
        }
    };
    let checksum_alg: BoxedStrategy<String> = if valid {
        select(&["sha256", "md5", "crc32", "none", ""][..])
            .prop_map(str::to_owned)
            .boxed()
    } else {
        text().boxed()
    };
    (
        (
            if valid {
                (1i64..5).boxed()
            } else {
                any::<i64>().boxed()
            },
            required(),
            required(),
            if valid {
                (0i64..i64::MAX).boxed()
            } else {
                any::<i64>().boxed()
            },
            required(),
        ),
        (
            text(),
            checksum_alg,
            text(),
            text(),
            text(),
            prop::collection::btree_map(text(), text(), 0..3),
        ),
    )
        .prop_map(
            |(
                (kfs_lfs, bucket, key, size, sha256),
                (checksum, checksum_alg, content_type, created_at, proxy_id, original_headers),
            )| LfsEnvelope {
                kfs_lfs,
                bucket,
                key,
                size,
                sha256,
                checksum,
                checksum_alg,
                content_type,
                created_at,
                proxy_id,
                original_headers,
            },
        )
}

pub fn memory(valid: bool) -> impl Strategy<Value = MemoryItem> {
    (
        (text(), text(), text(), text(), strings()),
        (
            prop::option::of(lfs(valid)),
            timestamp(),
            prop::option::of(timestamp()),
            prop::collection::btree_map(text(), text(), 0..3),
            prop::option::of(text()),
        ),
    )
        .prop_map(
            |(
                (item_id, author_id, title, content_type, tags),
                (lfs_envelope, created_at, expires_at, metadata, content),
            )| MemoryItem {
                item_id,
                author_id,
                title,
                content_type,
                tags,
                lfs_envelope,
                created_at,
                expires_at,
                metadata: metadata.into_iter().collect::<BTreeMap<_, _>>(),
                content,
            },
        )
}

pub fn node() -> impl Strategy<Value = AgentNode> {
    (text(), text(), text(), text(), text(), text(), text()).prop_map(
        |(agent_id, agent_name, role, parent_id, zone_id, endpoint, status)| AgentNode {
            agent_id,
            agent_name,
            role,
            parent_id,
            zone_id,
            endpoint,
            status,
        },
    )
}

pub fn zone(valid: bool) -> impl Strategy<Value = Zone> {
    (
        text(),
        text(),
        choice(ZoneVisibility::NAMES, valid),
        text(),
        text(),
        strings(),
        timestamp(),
    )
        .prop_map(
            |(zone_id, name, visibility, owner_id, parent_zone, allowed_ids, created_at)| Zone {
                zone_id,
                name,
                visibility,
                owner_id,
                parent_zone,
                allowed_ids,
                created_at,
            },
        )
}

pub fn discovery(valid: bool) -> impl Strategy<Value = DiscoveryPayload> {
    (
        choice(DiscoveryAction::NAMES, valid),
        node(),
        prop::collection::vec(zone(valid), 0..3),
        prop::collection::vec(node(), 0..3),
    )
        .prop_map(|(action, node, zones, hierarchy)| DiscoveryPayload {
            action,
            node,
            zones,
            hierarchy,
        })
}

pub fn unknown_type() -> impl Strategy<Value = String> {
    "[a-z_]{1,12}".prop_filter("not a known type", |t| {
        MessageType::parse(t).is_none() && KnowledgeType::parse(t).is_none()
    })
}

pub fn message(valid: bool) -> impl Strategy<Value = Message> {
    let announce = (choice(AnnounceAction::NAMES, valid), identity(valid))
        .prop_map(|(action, identity)| Message::Announce(AnnouncePayload { action, identity }));
    let heartbeat = (
        if valid {
            Just(EnsureTopicPayload::ACTION.to_owned()).boxed()
        } else {
            text().boxed()
        },
        text(),
    )
        .prop_map(|(action, topic)| Message::Heartbeat(EnsureTopicPayload { action, topic }));
    let unknown = (unknown_type(), json_value())
        .prop_map(|(r#type, payload)| Message::Unknown { r#type, payload });
    let mut options: Vec<BoxedStrategy<Message>> = vec![
        announce.boxed(),
        manifest(valid).prop_map(Message::Roster).boxed(),
        onboard(valid).prop_map(Message::Onboard).boxed(),
        task_request().prop_map(Message::Request).boxed(),
        task_response(valid).prop_map(Message::Response).boxed(),
        task_status(valid).prop_map(Message::TaskStatus).boxed(),
        trace().prop_map(Message::Trace).boxed(),
        audit(valid).prop_map(Message::Audit).boxed(),
        memory(valid).prop_map(Message::Memory).boxed(),
        discovery(valid).prop_map(Message::Orchestrator).boxed(),
        task_request().prop_map(Message::SkillRequest).boxed(),
        task_response(valid)
            .prop_map(Message::SkillResponse)
            .boxed(),
        heartbeat.boxed(),
    ];
    if !valid {
        options.push(unknown.boxed());
    }
    proptest::strategy::Union::new(options)
}

pub fn envelope(valid: bool) -> impl Strategy<Value = GroupEnvelope> {
    let message_id = if valid {
        prop::option::of(uuid7()).boxed()
    } else {
        prop::option::of(text()).boxed()
    };
    let schema_version = if valid {
        prop::option::of(1u32..=1).boxed()
    } else {
        prop::option::of(any::<u32>()).boxed()
    };
    let traceparent = if valid {
        prop::option::of(traceparent()).boxed()
    } else {
        prop::option::of(text()).boxed()
    };
    (
        (text(), text(), timestamp(), message(valid)),
        (
            message_id,
            schema_version,
            prop::option::of(text()),
            traceparent,
            prop::option::of(text()),
            prop::option::of(signature(valid)),
        ),
    )
        .prop_map(
            |(
                (correlation_id, sender_id, timestamp, message),
                (message_id, schema_version, zone_id, traceparent, tracestate, signature),
            )| GroupEnvelope {
                correlation_id,
                sender_id,
                timestamp,
                message,
                message_id,
                schema_version,
                zone_id,
                traceparent,
                tracestate,
                signature,
            },
        )
}

pub fn knowledge_message(valid: bool) -> impl Strategy<Value = KnowledgeMessage> {
    let req = move || {
        if valid {
            nonblank().boxed()
        } else {
            text().boxed()
        }
    };
    let vote = if valid {
        select(&["yes", "no", " YES ", "No"][..])
            .prop_map(str::to_owned)
            .boxed()
    } else {
        text().boxed()
    };
    let outcome = if valid {
        select(&["approved", "Rejected", "EXPIRED "][..])
            .prop_map(str::to_owned)
            .boxed()
    } else {
        text().boxed()
    };
    let count = move || {
        if valid {
            (0i64..1000).boxed()
        } else {
            any::<i64>().boxed()
        }
    };
    let proposal = (req(), req(), text(), req(), strings()).prop_map(
        |(proposal_id, group, title, statement, tags)| {
            KnowledgeMessage::Proposal(ProposalPayload {
                proposal_id,
                group,
                title,
                statement,
                tags,
            })
        },
    );
    let vote = (req(), vote, text()).prop_map(|(proposal_id, vote, reason)| {
        KnowledgeMessage::Vote(VotePayload {
            proposal_id,
            vote,
            reason,
        })
    });
    let decision = (req(), outcome, count(), count(), text()).prop_map(
        |(proposal_id, outcome, yes, no, reason)| {
            KnowledgeMessage::Decision(DecisionPayload {
                proposal_id,
                outcome,
                yes,
                no,
                reason,
            })
        },
    );
    let version = if valid {
        (1i64..1000).boxed()
    } else {
        any::<i64>().boxed()
    };
    let fact = (
        (req(), req(), req(), req(), req(), version),
        (req(), text(), text(), strings(), text()),
    )
        .prop_map(
            |(
                (fact_id, group, subject, predicate, object, version),
                (source, proposal_id, decision_id, tags, published_at),
            )| {
                KnowledgeMessage::Fact(FactPayload {
                    fact_id,
                    group,
                    subject,
                    predicate,
                    object,
                    version,
                    source,
                    proposal_id,
                    decision_id,
                    tags,
                    published_at,
                })
            },
        );
    let presence =
        (text(), text(), text(), text()).prop_map(|(group, status, display_name, updated_at)| {
            KnowledgeMessage::Presence(PresencePayload {
                group,
                status,
                display_name,
                updated_at,
            })
        });
    let capabilities = (text(), text(), text(), strings(), text()).prop_map(
        |(group, display_name, model, capabilities, updated_at)| {
            KnowledgeMessage::Capabilities(CapabilitiesPayload {
                group,
                display_name,
                model,
                capabilities,
                updated_at,
            })
        },
    );
    prop_oneof![proposal, vote, decision, fact, presence, capabilities]
}

pub fn knowledge_envelope(valid: bool) -> impl Strategy<Value = KnowledgeEnvelope> {
    let req = move || {
        if valid {
            nonblank().boxed()
        } else {
            text().boxed()
        }
    };
    (
        req(),
        req(),
        timestamp(),
        req(),
        req(),
        req(),
        knowledge_message(valid),
    )
        .prop_map(
            |(
                schema_version,
                trace_id,
                timestamp,
                idempotency_key,
                claw_id,
                instance_id,
                message,
            )| {
                KnowledgeEnvelope {
                    schema_version,
                    trace_id,
                    timestamp,
                    idempotency_key,
                    claw_id,
                    instance_id,
                    message,
                }
            },
        )
}
