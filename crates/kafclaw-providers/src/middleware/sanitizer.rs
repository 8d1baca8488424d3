//! The output sanitizer: deny patterns that withhold a whole answer, redaction of
//! personal data, secrets and configured patterns, and a length limit (`outputSanitization`).

use kafclaw_config::OutputSanitizationConfig;
use regex::Regex;

use super::patterns::{PII_DETECTORS, SECRET_DETECTORS, Scanner, compile};
use super::{Action, MiddlewareEvent, Stage};
use crate::Result;
use crate::types::ChatResponse;

/// The text that replaces an answer matching a deny pattern.
pub const WITHHELD: &str = "[response withheld by output sanitization]";

/// Appended to an answer cut at `outputSanitization.maxOutputLength` characters.
pub const TRUNCATED: &str = "\n[truncated]";

pub(crate) struct OutputSanitizer {
    redact: Scanner,
    deny: Vec<Regex>,
    max_chars: usize,
}

impl OutputSanitizer {
    /// The sanitizer of `outputSanitization` (call only when it is enabled).
    pub(crate) fn from_config(cfg: &OutputSanitizationConfig) -> Result<Self> {
        let mut redact = Scanner::default();
        if cfg.redact_secrets {
            redact.add_builtin("outputSanitization.redactSecrets", SECRET_DETECTORS, &[])?;
        }
        if cfg.redact_pii {
            redact.add_builtin("outputSanitization.redactPII", PII_DETECTORS, &[])?;
        }
        redact.add_custom(
            "outputSanitization.customRedactPatterns",
            &cfg.custom_redact_patterns,
        )?;
        let deny = cfg
            .deny_patterns
            .iter()
            .enumerate()
            .map(|(i, p)| compile(&format!("outputSanitization.denyPatterns[{i}]"), p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            redact,
            deny,
            max_chars: usize::try_from(cfg.max_output_length).unwrap_or(usize::MAX),
        })
    }

    /// Sanitizes the answer text (tool call arguments are left alone: they go to our own
    /// tools, not to a person).
    pub(crate) fn apply(&self, response: &mut ChatResponse, events: &mut Vec<MiddlewareEvent>) {
        if let Some(i) = self.deny.iter().position(|r| r.is_match(&response.content)) {
            response.content = WITHHELD.to_owned();
            events.push(MiddlewareEvent::new(
                Stage::OutputSanitizer,
                Action::Deny,
                format!("the answer matched outputSanitization.denyPatterns[{i}] and was withheld"),
            ));
            return;
        }
        if !self.redact.is_empty() {
            let (text, found) = self.redact.redact(&response.content);
            if !found.is_empty() {
                response.content = text;
                events.push(MiddlewareEvent::new(
                    Stage::OutputSanitizer,
                    Action::Redact,
                    format!(
                        "redacted {} match(es) in the answer ({})",
                        found.total(),
                        found.summary()
                    ),
                ));
            }
        }
        if self.max_chars > 0
            && let Some((cut, _)) = response.content.char_indices().nth(self.max_chars)
        {
            let total = response.content.chars().count();
            response.content.truncate(cut);
            response.content.push_str(TRUNCATED);
            events.push(MiddlewareEvent::new(
                Stage::OutputSanitizer,
                Action::Truncate,
                format!(
                    "the answer was cut from {total} to {} characters (outputSanitization.maxOutputLength)",
                    self.max_chars
                ),
            ));
        }
    }
}
