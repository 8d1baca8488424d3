//! The prompt guard: finds personal data and secrets in what goes to the model (user
//! messages and tool results) and warns, redacts or blocks, per `promptGuard`.

use kafclaw_config::PromptGuardConfig;

use super::patterns::{Findings, PII_DETECTORS, SECRET_DETECTORS, Scanner};
use super::{Action, MiddlewareEvent, Stage};
use crate::types::{ChatMessage, Role};
use crate::{Error, Result};

/// What to do with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardAction {
    Warn,
    Redact,
    Block,
}

impl GuardAction {
    fn parse(key: &str, value: &str, inherit: GuardAction) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" => Ok(inherit),
            "warn" => Ok(GuardAction::Warn),
            "redact" => Ok(GuardAction::Redact),
            "block" => Ok(GuardAction::Block),
            other => Err(Error::Config {
                key: key.to_owned(),
                problem: format!("must be one of warn, redact, block, got {other:?}"),
            }),
        }
    }

    fn key_word(self) -> &'static str {
        match self {
            GuardAction::Warn => "warn",
            GuardAction::Redact => "redact",
            GuardAction::Block => "block",
        }
    }
}

struct Category {
    /// `pii`, `secrets`, `custom`
    label: &'static str,
    /// The config key of its action.
    action_key: &'static str,
    scanner: Scanner,
    action: GuardAction,
}

pub(crate) struct PromptGuard {
    categories: Vec<Category>,
    deny_keywords: Vec<String>,
}

impl PromptGuard {
    /// The guard of `promptGuard` (call only when it is enabled). A category with an empty
    /// `detect` list runs all its built-in detectors.
    pub(crate) fn from_config(cfg: &PromptGuardConfig) -> Result<Self> {
        let mode = GuardAction::parse("promptGuard.mode", &cfg.mode, GuardAction::Warn)?;
        let mut categories = Vec::new();

        let mut secrets = Scanner::default();
        secrets.add_builtin(
            "promptGuard.secrets.detect",
            SECRET_DETECTORS,
            &cfg.secrets.detect,
        )?;
        secrets.add_custom(
            "promptGuard.secrets.customPatterns",
            &cfg.secrets.custom_patterns,
        )?;
        categories.push(Category {
            label: "secrets",
            action_key: "promptGuard.secrets.action",
            action: GuardAction::parse("promptGuard.secrets.action", &cfg.secrets.action, mode)?,
            scanner: secrets,
        });

        let mut pii = Scanner::default();
        pii.add_builtin("promptGuard.pii.detect", PII_DETECTORS, &cfg.pii.detect)?;
        pii.add_custom("promptGuard.pii.customPatterns", &cfg.pii.custom_patterns)?;
        categories.push(Category {
            label: "PII",
            action_key: "promptGuard.pii.action",
            action: GuardAction::parse("promptGuard.pii.action", &cfg.pii.action, mode)?,
            scanner: pii,
        });

        let mut custom = Scanner::default();
        custom.add_custom("promptGuard.customPatterns", &cfg.custom_patterns)?;
        if !custom.is_empty() {
            categories.push(Category {
                label: "custom patterns",
                action_key: "promptGuard.mode",
                action: mode,
                scanner: custom,
            });
        }
        Ok(Self {
            categories,
            deny_keywords: cfg
                .deny_keywords
                .iter()
                .map(|k| k.trim().to_lowercase())
                .filter(|k| !k.is_empty())
                .collect(),
        })
    }

    /// Checks and changes the messages. Blocking and warnings consider only the messages
    /// after the last assistant message (what is new in this turn), so an old message in
    /// the history cannot block every later turn; redaction applies to every user message
    /// and tool result, so history sent again stays redacted.
    pub(crate) fn apply(
        &self,
        messages: &mut [ChatMessage],
        events: &mut Vec<MiddlewareEvent>,
    ) -> Result<()> {
        let first_new = messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
            .map_or(0, |i| i + 1);
        let scanned = |m: &ChatMessage| matches!(m.role, Role::User | Role::Tool);

        for (i, m) in messages.iter().enumerate().skip(first_new) {
            if m.role != Role::User {
                continue;
            }
            let lower = m.content.to_lowercase();
            if let Some(k) = self
                .deny_keywords
                .iter()
                .find(|k| lower.contains(k.as_str()))
            {
                return Err(Error::Blocked {
                    stage: "promptGuard",
                    reason: format!(
                        "message {i} contains a denied keyword (promptGuard.denyKeywords entry {})",
                        self.deny_keywords.iter().position(|x| x == k).unwrap_or(0)
                    ),
                });
            }
        }

        for cat in &self.categories {
            if cat.scanner.is_empty() {
                continue;
            }
            let mut new_findings = Findings::default();
            let mut new_hits = Vec::new();
            for (i, m) in messages.iter().enumerate().skip(first_new) {
                if !scanned(m) {
                    continue;
                }
                let f = cat.scanner.scan(&m.content);
                if !f.is_empty() {
                    new_hits.push(i);
                    new_findings.merge(&f);
                }
            }
            match cat.action {
                GuardAction::Block if !new_findings.is_empty() => {
                    return Err(Error::Blocked {
                        stage: "promptGuard",
                        reason: format!(
                            "{} found ({}) in message {}; {} is {}",
                            cat.label,
                            new_findings.names(),
                            join(&new_hits),
                            cat.action_key,
                            cat.action.key_word()
                        ),
                    });
                }
                GuardAction::Warn if !new_findings.is_empty() => {
                    events.push(MiddlewareEvent::new(
                        Stage::PromptGuard,
                        Action::Warn,
                        format!(
                            "{} found ({}) in message {}; sent unchanged",
                            cat.label,
                            new_findings.summary(),
                            join(&new_hits)
                        ),
                    ));
                }
                GuardAction::Redact => {
                    let mut all = Findings::default();
                    let mut hit = Vec::new();
                    for (i, m) in messages.iter_mut().enumerate() {
                        if !scanned(m) {
                            continue;
                        }
                        let (text, f) = cat.scanner.redact(&m.content);
                        if !f.is_empty() {
                            m.content = text;
                            all.merge(&f);
                            hit.push(i);
                        }
                    }
                    if !all.is_empty() {
                        events.push(MiddlewareEvent::new(
                            Stage::PromptGuard,
                            Action::Redact,
                            format!(
                                "redacted {} {} match(es) ({}) in message {}",
                                all.total(),
                                cat.label,
                                all.summary(),
                                join(&hit)
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn join(indices: &[usize]) -> String {
    indices
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
