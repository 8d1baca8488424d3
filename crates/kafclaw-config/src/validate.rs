//! Semantic checks of a typed configuration: ranges, allowed values, formats.

use crate::error::{Error, Origin, Result};
use crate::model::{Config, SaslMechanism, SecurityProtocol};

fn invalid(key: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        origin: Origin::Direct,
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// `value` must be one of `allowed` (the empty string is allowed when `empty_ok`).
fn one_of(key: &str, value: &str, allowed: &[&str], empty_ok: bool) -> Result<()> {
    if (empty_ok && value.is_empty()) || allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "must be one of {}, got {}",
                allowed.join(", "),
                crate::de::quote(value)
            ),
        ))
    }
}

fn at_least(key: &str, value: u64, min: u64) -> Result<()> {
    if value >= min {
        Ok(())
    } else {
        Err(invalid(key, format!("must be at least {min}, got {value}")))
    }
}

fn port(key: &str, value: u16) -> Result<()> {
    if value == 0 {
        Err(invalid(key, "must be a port between 1 and 65535, got 0"))
    } else {
        Ok(())
    }
}

fn http_url(key: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "must be an http:// or https:// URL, got {}",
                crate::de::quote(value)
            ),
        ))
    }
}

/// Kafka-safe name: letters, digits, `.`, `_`, `-`.
fn name_chars(key: &str, value: &str, allow_dot: bool) -> Result<()> {
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dot && c == '.'));
    if ok && value.len() <= 200 {
        Ok(())
    } else {
        let dot = if allow_dot { ", '.'" } else { "" };
        Err(invalid(
            key,
            format!(
                "may only contain letters, digits, '_', '-'{dot} (at most 200), got {}",
                crate::de::quote(value)
            ),
        ))
    }
}

const POLICIES: &[&str] = &["pairing", "allowlist", "open", "disabled"];
const SCOPES: &[&str] = &["channel", "account", "room", "thread", "user"];
const GUARD_ACTIONS: &[&str] = &["warn", "redact", "block"];

impl Config {
    /// Checks rules beyond types: port ranges, allowed values (Kafka security protocol and
    /// SASL mechanism, onboarding mode, orchestrator role, channel policies, ...), limits
    /// that must be positive. The error names the dotted key.
    pub fn validate(&self) -> Result<()> {
        let g = &self.gateway;
        port("gateway.port", g.port)?;
        port("gateway.dashboardPort", g.dashboard_port)?;
        if g.port == g.dashboard_port {
            return Err(invalid(
                "gateway.dashboardPort",
                format!("must differ from gateway.port (both are {})", g.port),
            ));
        }
        if g.host.trim().is_empty() {
            return Err(invalid("gateway.host", "must not be empty"));
        }

        let m = &self.model;
        if !(0.0..=2.0).contains(&m.temperature) {
            return Err(invalid(
                "model.temperature",
                format!("must be between 0 and 2, got {}", m.temperature),
            ));
        }
        at_least("model.maxTokens", m.max_tokens.into(), 1)?;
        at_least("model.maxToolIterations", m.max_tool_iterations.into(), 1)?;
        at_least("model.maxAttempts", m.max_attempts.into(), 1)?;
        if m.request_timeout.get().is_zero() {
            return Err(invalid("model.requestTimeout", "must be longer than 0s"));
        }

        let k = &self.group;
        if !k.kafka_security_protocol.is_empty()
            && SecurityProtocol::parse(&k.kafka_security_protocol).is_none()
        {
            return Err(invalid(
                "group.kafkaSecurityProtocol",
                format!(
                    "must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got {}",
                    crate::de::quote(&k.kafka_security_protocol)
                ),
            ));
        }
        if !k.kafka_sasl_mechanism.is_empty()
            && SaslMechanism::parse(&k.kafka_sasl_mechanism).is_none()
        {
            return Err(invalid(
                "group.kafkaSaslMechanism",
                format!(
                    "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, got {}",
                    crate::de::quote(&k.kafka_sasl_mechanism)
                ),
            ));
        }
        one_of(
            "group.onboardMode",
            &k.onboard_mode,
            &["open", "gated"],
            true,
        )?;
        name_chars("group.groupName", &k.group_name, true)?;
        if k.agent_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "group.agentId",
                "must not contain spaces or control characters",
            ));
        }
        for (i, skill) in k.skills.iter().enumerate() {
            let key = format!("group.skills.{i}");
            if skill.is_empty() {
                return Err(invalid(&key, "must not be empty"));
            }
            name_chars(&key, skill, false)?;
        }
        for (skill, cmd) in &k.command_skills {
            let key = format!("group.commandSkills.{skill}");
            name_chars(&key, skill, false)?;
            match cmd.argv.first() {
                None => return Err(invalid(&format!("{key}.argv"), "must name a program")),
                Some(program) if program.is_empty() => {
                    return Err(invalid(&format!("{key}.argv.0"), "must not be empty"));
                }
                Some(_) => {}
            }
            at_least(&format!("{key}.timeoutSecs"), cmd.timeout_secs, 1)?;
        }
        http_url("group.lfsProxyUrl", &k.lfs_proxy_url)?;
        at_least("group.pollIntervalMs", k.poll_interval_ms, 1)?;
        at_least("group.heartbeatIntervalSecs", k.heartbeat_interval_secs, 1)?;
        at_least("group.missedHeartbeats", k.missed_heartbeats.into(), 1)?;
        at_least("group.onboardTimeoutSecs", k.onboard_timeout_secs, 1)?;
        at_least("group.topicPartitions", k.topic_partitions.into(), 1)?;
        if k.topic_partitions > i32::MAX as u32 {
            return Err(invalid(
                "group.topicPartitions",
                "is larger than Kafka allows",
            ));
        }
        at_least("group.replicationFactor", k.replication_factor.into(), 1)?;
        if k.replication_factor > i16::MAX as u16 {
            return Err(invalid(
                "group.replicationFactor",
                "is larger than Kafka allows",
            ));
        }
        at_least(
            "group.defaultTaskTimeoutSecs",
            k.default_task_timeout_secs,
            1,
        )?;
        if k.enabled && k.brokers().is_empty() {
            return Err(invalid(
                "group.kafkaBrokers",
                "must name at least one broker when group.enabled is true",
            ));
        }

        let o = &self.orchestrator;
        one_of(
            "orchestrator.role",
            &o.role,
            &["orchestrator", "worker", "observer"],
            true,
        )?;
        http_url("orchestrator.endpoint", &o.endpoint)?;
        at_least(
            "orchestrator.discoveryIntervalSecs",
            o.discovery_interval_secs,
            1,
        )?;
        if o.discovery_interval_secs > 86_400 {
            return Err(invalid(
                "orchestrator.discoveryIntervalSecs",
                format!(
                    "must be at most 86400 (a day), got {}",
                    o.discovery_interval_secs
                ),
            ));
        }
        for (i, id) in o.trusted_orchestrators.iter().enumerate() {
            if id.is_empty() {
                return Err(invalid(
                    &format!("orchestrator.trustedOrchestrators.{i}"),
                    "must not be empty",
                ));
            }
        }
        if !o.zone_id.is_empty() {
            name_chars("orchestrator.zoneId", &o.zone_id, false)?;
        }
        for (zone, z) in &o.zones {
            let key = format!("orchestrator.zones.{zone}");
            name_chars(&key, zone, false)?;
            if zone == "public" {
                return Err(invalid(
                    &key,
                    "\"public\" is built in and cannot be defined",
                ));
            }
            one_of(
                &format!("{key}.visibility"),
                &z.visibility,
                &["public", "shared", "private"],
                false,
            )?;
            for (i, id) in z.allowed_ids.iter().enumerate() {
                if id.is_empty() {
                    return Err(invalid(
                        &format!("{key}.allowedIds.{i}"),
                        "must not be empty",
                    ));
                }
            }
        }

        let p = &self.policy;
        for (class, limits) in [
            ("owner", &p.owner),
            ("peer", &p.peer),
            ("external", &p.external),
        ] {
            if let Some(t) = limits.approval_tiers.iter().find(|t| **t > limits.max_tier) {
                return Err(invalid(
                    &format!("policy.{class}.approvalTiers"),
                    format!(
                        "tier {} is above policy.{class}.maxTier ({}); an approval cannot lift a \
                         class above its maximum",
                        u8::from(*t),
                        u8::from(limits.max_tier)
                    ),
                ));
            }
        }
        for (i, s) in p.allowed_senders.iter().enumerate() {
            if s.trim().is_empty() {
                return Err(invalid(
                    &format!("policy.allowedSenders.{i}"),
                    "must not be empty",
                ));
            }
        }
        for (key, limit) in [
            ("policy.senderRateLimit", &p.sender_rate_limit),
            ("policy.channelRateLimit", &p.channel_rate_limit),
        ] {
            if let Some(r) = limit {
                at_least(&format!("{key}.maxCalls"), r.max_calls.into(), 1)?;
                at_least(&format!("{key}.windowSecs"), r.window_secs, 1)?;
            }
        }

        let t = &self.tools;
        if t.exec.timeout.get().is_zero() {
            return Err(invalid("tools.exec.timeout", "must be longer than 0s"));
        }
        at_least("tools.exec.maxOutputBytes", t.exec.max_output_bytes, 1)?;
        if t.web.fetch.timeout.get().is_zero() {
            return Err(invalid("tools.web.fetch.timeout", "must be longer than 0s"));
        }
        one_of(
            "tools.subagents.memoryShareMode",
            &t.subagents.memory_share_mode,
            &["isolated", "handoff", "inherit-readonly"],
            true,
        )?;

        let s = &self.scheduler;
        if s.tick_interval.get().is_zero() {
            return Err(invalid("scheduler.tickInterval", "must be longer than 0s"));
        }
        at_least("scheduler.maxConcLLM", s.max_conc_llm.into(), 1)?;
        at_least("scheduler.maxConcShell", s.max_conc_shell.into(), 1)?;
        at_least("scheduler.maxConcDefault", s.max_conc_default.into(), 1)?;

        self.validate_channels()?;

        let pg = &self.prompt_guard;
        one_of("promptGuard.mode", &pg.mode, GUARD_ACTIONS, true)?;
        one_of(
            "promptGuard.pii.action",
            &pg.pii.action,
            GUARD_ACTIONS,
            true,
        )?;
        one_of(
            "promptGuard.secrets.action",
            &pg.secrets.action,
            GUARD_ACTIONS,
            true,
        )?;

        let f = &self.finops;
        for (key, v) in [
            ("finops.dailyBudget", f.daily_budget),
            ("finops.monthlyBudget", f.monthly_budget),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(invalid(key, format!("must be 0 or more, got {v}")));
            }
        }
        for (provider, price) in &f.pricing {
            for (field, v) in [
                ("promptPer1kTokens", price.prompt_per_1k_tokens),
                ("completionPer1kTokens", price.completion_per_1k_tokens),
            ] {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(invalid(
                        &format!("finops.pricing.{provider}.{field}"),
                        format!("must be 0 or more, got {v}"),
                    ));
                }
            }
        }

        let mem = &self.memory;
        one_of(
            "memory.embedding.provider",
            &mem.embedding.provider,
            &["local-hf", "openai", "disabled"],
            false,
        )?;
        at_least(
            "memory.embedding.dimension",
            mem.embedding.dimension.into(),
            1,
        )?;
        if !(0.0..=1.0).contains(&mem.search.min_score) {
            return Err(invalid(
                "memory.search.minScore",
                format!("must be between 0 and 1, got {}", mem.search.min_score),
            ));
        }
        one_of(
            "skills.nodeManager",
            &self.skills.node_manager,
            &["npm", "pnpm", "bun"],
            false,
        )?;
        one_of(
            "skills.scope",
            &self.skills.scope,
            &["selected", "all"],
            false,
        )?;
        one_of(
            "skills.runtimeIsolation",
            &self.skills.runtime_isolation,
            &["auto", "host", "strict"],
            false,
        )?;
        one_of(
            "knowledge.shareMode",
            &self.knowledge.share_mode,
            &["proposal", "direct"],
            true,
        )?;
        Ok(())
    }

    fn validate_channels(&self) -> Result<()> {
        let c = &self.channels;
        one_of(
            "channels.whatsapp.sessionScope",
            &c.whatsapp.session_scope,
            SCOPES,
            true,
        )?;
        let slack = &c.slack;
        one_of(
            "channels.slack.sessionScope",
            &slack.session_scope,
            SCOPES,
            true,
        )?;
        one_of("channels.slack.dmPolicy", &slack.dm_policy, POLICIES, true)?;
        one_of(
            "channels.slack.groupPolicy",
            &slack.group_policy,
            POLICIES,
            true,
        )?;
        http_url("channels.slack.outboundUrl", &slack.outbound_url)?;
        for (i, a) in slack.accounts.iter().enumerate() {
            let at = |f: &str| format!("channels.slack.accounts.{i}.{f}");
            one_of(&at("sessionScope"), &a.session_scope, SCOPES, true)?;
            one_of(&at("dmPolicy"), &a.dm_policy, POLICIES, true)?;
            one_of(&at("groupPolicy"), &a.group_policy, POLICIES, true)?;
            http_url(&at("outboundUrl"), &a.outbound_url)?;
        }
        let teams = &c.msteams;
        one_of(
            "channels.msteams.sessionScope",
            &teams.session_scope,
            SCOPES,
            true,
        )?;
        one_of(
            "channels.msteams.dmPolicy",
            &teams.dm_policy,
            POLICIES,
            true,
        )?;
        one_of(
            "channels.msteams.groupPolicy",
            &teams.group_policy,
            POLICIES,
            true,
        )?;
        http_url("channels.msteams.outboundUrl", &teams.outbound_url)?;
        for (i, a) in teams.accounts.iter().enumerate() {
            let at = |f: &str| format!("channels.msteams.accounts.{i}.{f}");
            one_of(&at("sessionScope"), &a.session_scope, SCOPES, true)?;
            one_of(&at("dmPolicy"), &a.dm_policy, POLICIES, true)?;
            one_of(&at("groupPolicy"), &a.group_policy, POLICIES, true)?;
            http_url(&at("outboundUrl"), &a.outbound_url)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(c: &Config) -> String {
        c.validate()
            .unwrap_err()
            .key()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn each_rule_names_its_key() {
        let mut c = Config::default();
        c.gateway.port = 0;
        assert_eq!(key_of(&c), "gateway.port");

        let mut c = Config::default();
        c.gateway.dashboard_port = c.gateway.port;
        assert_eq!(key_of(&c), "gateway.dashboardPort");

        let mut c = Config::default();
        c.orchestrator.discovery_interval_secs = 0;
        assert_eq!(key_of(&c), "orchestrator.discoveryIntervalSecs");
        c.orchestrator.discovery_interval_secs = 86_401;
        assert_eq!(key_of(&c), "orchestrator.discoveryIntervalSecs");
        let mut c = Config::default();
        c.orchestrator.zone_id = "a.b".into();
        assert_eq!(key_of(&c), "orchestrator.zoneId");
        let mut c = Config::default();
        let mut zone = crate::ZoneConfig::default();
        c.orchestrator.zones.insert("red".into(), zone.clone());
        c.validate().unwrap();
        zone.visibility = "secret".into();
        c.orchestrator.zones.insert("red".into(), zone.clone());
        assert_eq!(key_of(&c), "orchestrator.zones.red.visibility");
        zone.visibility = "private".into();
        zone.allowed_ids = vec![String::new()];
        c.orchestrator.zones.insert("red".into(), zone.clone());
        assert_eq!(key_of(&c), "orchestrator.zones.red.allowedIds.0");
        let mut c = Config::default();
        c.orchestrator
            .zones
            .insert("public".into(), crate::ZoneConfig::default());
        assert_eq!(key_of(&c), "orchestrator.zones.public");

        let mut c = Config::default();
        c.group.kafka_security_protocol = "TLS".into();
        let err = c.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "group.kafkaSecurityProtocol: must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, \
             SASL_SSL, got \"TLS\""
        );

        let mut c = Config::default();
        c.group.kafka_security_protocol = "sasl_ssl".into();
        c.validate().unwrap();

        let mut c = Config::default();
        c.group.kafka_sasl_mechanism = "GSSAPI".into();
        assert_eq!(key_of(&c), "group.kafkaSaslMechanism");

        let mut c = Config::default();
        c.group.onboard_mode = "closed".into();
        assert_eq!(key_of(&c), "group.onboardMode");

        let mut c = Config::default();
        c.group.command_skills.insert(
            "echo".into(),
            crate::CommandSkill {
                argv: vec![],
                timeout_secs: 5,
            },
        );
        assert_eq!(key_of(&c), "group.commandSkills.echo.argv");
        c.group.command_skills.insert(
            "echo".into(),
            crate::CommandSkill {
                argv: vec!["cat".into()],
                timeout_secs: 0,
            },
        );
        assert_eq!(key_of(&c), "group.commandSkills.echo.timeoutSecs");

        let mut c = Config::default();
        c.orchestrator.role = "boss".into();
        assert_eq!(key_of(&c), "orchestrator.role");

        let mut c = Config::default();
        c.policy.peer.approval_tiers = vec![crate::ToolTier::HighRisk];
        assert_eq!(key_of(&c), "policy.peer.approvalTiers");

        let mut c = Config::default();
        c.policy.sender_rate_limit = Some(crate::RateLimitConfig {
            max_calls: 0,
            window_secs: 60,
        });
        assert_eq!(key_of(&c), "policy.senderRateLimit.maxCalls");

        let mut c = Config::default();
        c.group.skills = vec!["ok".into(), "bad.name".into()];
        assert_eq!(key_of(&c), "group.skills.1");

        let mut c = Config::default();
        c.group.enabled = true;
        c.group.kafka_brokers = " , ".into();
        assert_eq!(key_of(&c), "group.kafkaBrokers");

        let mut c = Config::default();
        c.model.temperature = 3.5;
        assert_eq!(key_of(&c), "model.temperature");

        let mut c = Config::default();
        c.channels.slack.dm_policy = "everyone".into();
        assert_eq!(key_of(&c), "channels.slack.dmPolicy");

        let mut c = Config::default();
        c.group.heartbeat_interval_secs = 0;
        assert_eq!(key_of(&c), "group.heartbeatIntervalSecs");

        let mut c = Config::default();
        c.group.onboard_timeout_secs = 0;
        assert_eq!(key_of(&c), "group.onboardTimeoutSecs");
    }
}
