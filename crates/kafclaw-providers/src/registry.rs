//! The known provider ids (with the aliases the seeds use), `provider/model` strings, and
//! the set of configured provider clients.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kafclaw_config::{ProviderConfig, ProvidersConfig};

use crate::anthropic::Anthropic;
use crate::http::HttpClient;
use crate::openai::OpenAiCompatible;
use crate::provider::Provider;
use crate::{Error, Result};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// A provider this version can talk to.
#[derive(Debug, Clone, Copy)]
pub struct ProviderInfo {
    /// Canonical id, as in the seeds (`claude`, `openai`, `scalytics-copilot`, ...).
    pub id: &'static str,
    /// Other ids accepted in model strings.
    pub aliases: &'static [&'static str],
    /// The key under `providers.` in config.json.
    pub config_key: &'static str,
    /// Wire format.
    pub wire: WireFormat,
    /// Whether an API key is required.
    pub key_required: bool,
    /// The environment variable that sets the API key.
    pub env_api_key: &'static str,
    /// The environment variable that sets the endpoint.
    pub env_api_base: &'static str,
}

/// Every provider this version supports.
pub const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        id: "claude",
        aliases: &["anthropic"],
        config_key: "anthropic",
        wire: WireFormat::Anthropic,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_ANTHROPIC_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_ANTHROPIC_API_BASE",
    },
    ProviderInfo {
        id: "openai",
        aliases: &[],
        config_key: "openai",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_OPENAI_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_OPENAI_API_BASE",
    },
    ProviderInfo {
        id: "openrouter",
        aliases: &[],
        config_key: "openrouter",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_OPENROUTER_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_OPENROUTER_API_BASE",
    },
    ProviderInfo {
        id: "deepseek",
        aliases: &[],
        config_key: "deepseek",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_DEEPSEEK_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_DEEPSEEK_API_BASE",
    },
    ProviderInfo {
        id: "groq",
        aliases: &[],
        config_key: "groq",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_GROQ_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_GROQ_API_BASE",
    },
    ProviderInfo {
        id: "gemini",
        aliases: &["google"],
        config_key: "gemini",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_GEMINI_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_GEMINI_API_BASE",
    },
    ProviderInfo {
        id: "vllm",
        aliases: &[],
        config_key: "vllm",
        wire: WireFormat::OpenAi,
        key_required: false,
        env_api_key: "KAFCLAW_PROVIDERS_VLLM_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_VLLM_API_BASE",
    },
    ProviderInfo {
        id: "xai",
        aliases: &["grok"],
        config_key: "xai",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_XAI_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_XAI_API_BASE",
    },
    ProviderInfo {
        id: "scalytics-copilot",
        aliases: &["copilot", "scalyticsCopilot"],
        config_key: "scalyticsCopilot",
        wire: WireFormat::OpenAi,
        key_required: true,
        env_api_key: "KAFCLAW_PROVIDERS_SCALYTICS_COPILOT_API_KEY",
        env_api_base: "KAFCLAW_PROVIDERS_SCALYTICS_COPILOT_API_BASE",
    },
];

/// Provider ids of the seeds that need an OAuth login this version does not implement.
const OAUTH_ONLY: &[(&str, &str)] = &[
    (
        "gemini-cli",
        "it logs in through the Gemini CLI; use `gemini/<model>` with providers.gemini.apiKey",
    ),
    (
        "openai-codex",
        "it logs in through the Codex CLI; use `openai/<model>` with providers.openai.apiKey",
    ),
    (
        "codex",
        "it logs in through the Codex CLI; use `openai/<model>` with providers.openai.apiKey",
    ),
];

/// The provider a model string without a `provider/` prefix goes to (the seeds' legacy
/// OpenAI fallback).
pub const DEFAULT_PROVIDER: &str = "openai";

/// The provider with this id or alias (case-insensitive).
pub fn provider_info(id: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS.iter().find(|p| {
        p.id.eq_ignore_ascii_case(id) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    })
}

fn known_ids() -> String {
    PROVIDERS
        .iter()
        .map(|p| p.id)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A model of one provider: `provider/model` with the provider id made canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// Canonical provider id.
    pub provider: String,
    /// The model name sent to the provider (everything after the first `/`).
    pub model: String,
}

impl ModelRef {
    /// Parses `provider/model`. Only the first segment is the provider id, so
    /// `openrouter/meta-llama/llama-3-70b` sends `meta-llama/llama-3-70b` to OpenRouter.
    /// A name without `/` goes to [`DEFAULT_PROVIDER`].
    pub fn parse(value: &str) -> Result<Self> {
        let text = value.trim();
        let invalid = |reason: &str| Error::InvalidModelRef {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(invalid("empty model name"));
        }
        let Some((provider, model)) = text.split_once('/') else {
            return Ok(Self {
                provider: DEFAULT_PROVIDER.to_owned(),
                model: text.to_owned(),
            });
        };
        if provider.is_empty() {
            return Err(invalid("no provider id before the '/'"));
        }
        if model.trim().is_empty() {
            return Err(invalid("no model name after the provider id"));
        }
        if let Some(info) = provider_info(provider) {
            return Ok(Self {
                provider: info.id.to_owned(),
                model: model.to_owned(),
            });
        }
        if let Some((_, hint)) = OAUTH_ONLY
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(provider))
        {
            return Err(Error::UnsupportedProvider {
                provider: provider.to_owned(),
                hint: (*hint).to_owned(),
            });
        }
        Err(Error::UnknownProvider {
            provider: provider.to_owned(),
            model: value.to_owned(),
            known: known_ids(),
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Whether a configured provider can be used, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    /// Canonical id.
    pub id: &'static str,
    /// The endpoint requests go to (empty when none is configured).
    pub api_base: String,
    /// Whether an API key is set.
    pub has_api_key: bool,
    /// `None` when usable; otherwise what to set.
    pub problem: Option<String>,
}

enum Problem {
    MissingKey(&'static ProviderInfo),
    MissingBase(&'static ProviderInfo),
}

impl Problem {
    fn to_error(&self) -> Error {
        match self {
            Problem::MissingKey(info) => Error::MissingApiKey {
                provider: info.id.to_owned(),
                key: format!("providers.{}.apiKey", info.config_key),
                env: info.env_api_key.to_owned(),
            },
            Problem::MissingBase(info) => Error::MissingApiBase {
                provider: info.id.to_owned(),
                key: format!("providers.{}.apiBase", info.config_key),
                env: info.env_api_base.to_owned(),
            },
        }
    }
}

/// The endpoint of a provider: the configured `apiBase`, for Gemini its OpenAI-compatible
/// path (`.../v1beta/openai`).
fn endpoint(info: &ProviderInfo, cfg: &ProviderConfig) -> String {
    let base = cfg.api_base.trim().trim_end_matches('/');
    if info.id == "gemini" && !base.is_empty() && !base.ends_with("/openai") {
        format!("{base}/openai")
    } else {
        base.to_owned()
    }
}

fn check(info: &'static ProviderInfo, cfg: &ProviderConfig) -> Option<Problem> {
    if endpoint(info, cfg).is_empty() {
        Some(Problem::MissingBase(info))
    } else if info.key_required && cfg.api_key.expose().trim().is_empty() {
        Some(Problem::MissingKey(info))
    } else {
        None
    }
}

/// The state of every known provider in this configuration.
pub fn provider_status(providers: &ProvidersConfig) -> Vec<ProviderStatus> {
    PROVIDERS
        .iter()
        .map(|info| {
            let cfg = providers.get(info.config_key);
            let default = ProviderConfig::default();
            let cfg = cfg.unwrap_or(&default);
            ProviderStatus {
                id: info.id,
                api_base: endpoint(info, cfg),
                has_api_key: !cfg.api_key.expose().trim().is_empty(),
                problem: check(info, cfg).map(|p| p.to_error().to_string()),
            }
        })
        .collect()
}

/// The provider clients of a configuration, by canonical id. Providers that lack a key or
/// an endpoint are remembered with the reason, which [`ProviderSet::get`] reports.
pub struct ProviderSet {
    ready: BTreeMap<String, Arc<dyn Provider>>,
    problems: BTreeMap<String, Problem>,
}

impl ProviderSet {
    /// Clients for every usable provider of `providers`, sharing one HTTP client whose
    /// requests give up after `timeout`.
    pub fn from_config(providers: &ProvidersConfig, timeout: Duration) -> Result<Self> {
        let http = HttpClient::new(timeout)?;
        let mut me = Self {
            ready: BTreeMap::new(),
            problems: BTreeMap::new(),
        };
        for info in PROVIDERS {
            let default = ProviderConfig::default();
            let cfg = providers.get(info.config_key).unwrap_or(&default);
            if let Some(p) = check(info, cfg) {
                me.problems.insert(info.id.to_owned(), p);
                continue;
            }
            let base = endpoint(info, cfg);
            let key = cfg.api_key.expose().trim().to_owned();
            let provider: Arc<dyn Provider> = match info.wire {
                WireFormat::OpenAi => Arc::new(OpenAiCompatible::with_client(
                    info.id.to_owned(),
                    base,
                    Some(key),
                    http.clone(),
                )),
                WireFormat::Anthropic => Arc::new(Anthropic::with_client(
                    info.id.to_owned(),
                    base,
                    key,
                    http.clone(),
                )),
            };
            me.ready.insert(info.id.to_owned(), provider);
        }
        Ok(me)
    }

    /// An empty set (add providers with [`ProviderSet::insert`]).
    pub fn empty() -> Self {
        Self {
            ready: BTreeMap::new(),
            problems: BTreeMap::new(),
        }
    }

    /// Adds or replaces the provider for an id.
    pub fn insert(&mut self, id: impl Into<String>, provider: Arc<dyn Provider>) {
        let id = id.into();
        self.problems.remove(&id);
        self.ready.insert(id, provider);
    }

    /// The client for a canonical provider id, or the reason it cannot be used.
    pub fn get(&self, id: &str) -> Result<Arc<dyn Provider>> {
        if let Some(p) = self.ready.get(id) {
            return Ok(p.clone());
        }
        if let Some(problem) = self.problems.get(id) {
            return Err(problem.to_error());
        }
        Err(Error::UnknownProvider {
            provider: id.to_owned(),
            model: id.to_owned(),
            known: known_ids(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafclaw_config::Secret;

    #[test]
    fn model_strings() {
        let r = ModelRef::parse("anthropic/claude-sonnet-4-5").unwrap();
        assert_eq!(
            (r.provider.as_str(), r.model.as_str()),
            ("claude", "claude-sonnet-4-5")
        );
        let r = ModelRef::parse("openrouter/meta-llama/llama-3-70b").unwrap();
        assert_eq!(r.model, "meta-llama/llama-3-70b");
        assert_eq!(r.to_string(), "openrouter/meta-llama/llama-3-70b");
        let r = ModelRef::parse("gpt-4o").unwrap();
        assert_eq!(r.provider, "openai");
        let r = ModelRef::parse("Copilot/x").unwrap();
        assert_eq!(r.provider, "scalytics-copilot");
        let e = ModelRef::parse("acme/x").unwrap_err().to_string();
        assert!(e.contains("unknown provider \"acme\""), "{e}");
        assert!(e.contains("claude, openai"), "{e}");
        let e = ModelRef::parse("gemini-cli/gemini-2.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported"), "{e}");
        assert!(ModelRef::parse("openai/").is_err());
        assert!(ModelRef::parse("/x").is_err());
        assert!(ModelRef::parse(" ").is_err());
    }

    #[test]
    fn environment_names_match_the_config_crate() {
        for info in PROVIDERS {
            for (suffix, env) in [("apiKey", info.env_api_key), ("apiBase", info.env_api_base)] {
                let key = format!("providers.{}.{suffix}", info.config_key);
                assert!(
                    kafclaw_config::env_bindings()
                        .iter()
                        .any(|b| b.name == env && b.key == key),
                    "{env} should set {key}"
                );
            }
        }
    }

    #[test]
    fn missing_key_and_base_name_what_to_set() {
        let mut cfg = ProvidersConfig::default();
        cfg.vllm.api_base = String::new();
        let set = ProviderSet::from_config(&cfg, Duration::from_secs(1)).unwrap();
        let e = set.get("openai").err().unwrap().to_string();
        assert!(e.contains("providers.openai.apiKey"), "{e}");
        assert!(e.contains("KAFCLAW_PROVIDERS_OPENAI_API_KEY"), "{e}");
        let e = set.get("vllm").err().unwrap().to_string();
        assert!(e.contains("providers.vllm.apiBase"), "{e}");
        let e = set.get("scalytics-copilot").err().unwrap().to_string();
        assert!(e.contains("providers.scalyticsCopilot.apiBase"), "{e}");

        cfg.vllm.api_base = "http://127.0.0.1:8000/v1".into();
        cfg.gemini.api_key = Secret::new("g");
        let set = ProviderSet::from_config(&cfg, Duration::from_secs(1)).unwrap();
        assert!(set.get("vllm").is_ok(), "vllm needs no key");
        let status = provider_status(&cfg);
        let gemini = status.iter().find(|s| s.id == "gemini").unwrap();
        assert_eq!(
            gemini.api_base,
            "https://generativelanguage.googleapis.com/v1beta/openai"
        );
        assert_eq!(gemini.problem, None);
    }
}
