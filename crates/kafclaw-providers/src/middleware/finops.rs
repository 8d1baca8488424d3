//! Token and cost accounting: prices from `finops.pricing`, the usage ledger the chain
//! records into (the timeline), and the daily/monthly budgets checked before a call.

use std::collections::BTreeMap;

use async_trait::async_trait;
use kafclaw_config::{FinOpsConfig, Pricing};
use kafclaw_timeline::{NewUsage, Timeline};

use crate::registry::{ModelRef, provider_info};
use crate::types::Usage;
use crate::{Error, Result};

/// One model call to record.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    /// The task the call served, if any.
    pub task_id: Option<String>,
    /// Canonical provider id.
    pub provider: String,
    /// Model name as sent to the provider.
    pub model: String,
    /// Tokens.
    pub usage: Usage,
    /// Cost in USD (0 when no price is configured).
    pub cost_usd: f64,
}

/// Usage summed over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Prompt plus answer tokens.
    pub tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
}

/// Where usage is recorded and summed: the agent's timeline ([`Timeline`] implements it).
/// Days and months are UTC.
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// Stores one call (and adds it to its task's totals).
    async fn record(&self, record: UsageRecord) -> Result<()>;
    /// Usage so far in the current day.
    async fn spent_today(&self) -> Result<Spent>;
    /// Usage so far in the current month.
    async fn spent_this_month(&self) -> Result<Spent>;
    /// The runtime override of the daily token limit (setting `daily_token_limit`), when set.
    async fn daily_token_limit(&self) -> Result<Option<u64>>;
}

fn ledger_err(action: &'static str) -> impl Fn(kafclaw_timeline::Error) -> Error {
    move |e| Error::Ledger {
        action,
        reason: e.to_string(),
    }
}

#[async_trait]
impl UsageLedger for Timeline {
    async fn record(&self, r: UsageRecord) -> Result<()> {
        self.record_usage(NewUsage {
            task_id: r.task_id,
            provider: r.provider,
            model: r.model,
            tokens_in: r.usage.input_tokens,
            tokens_out: r.usage.output_tokens,
            cost_usd: r.cost_usd,
            created_at: None,
        })
        .await
        .map(|_| ())
        .map_err(ledger_err("recording usage"))
    }

    async fn spent_today(&self) -> Result<Spent> {
        let u = self
            .usage_today()
            .await
            .map_err(ledger_err("reading today's usage"))?;
        Ok(Spent {
            tokens: u.total_tokens(),
            cost_usd: u.cost_usd,
        })
    }

    async fn spent_this_month(&self) -> Result<Spent> {
        let u = self
            .usage_this_month()
            .await
            .map_err(ledger_err("reading this month's usage"))?;
        Ok(Spent {
            tokens: u.total_tokens(),
            cost_usd: u.cost_usd,
        })
    }

    async fn daily_token_limit(&self) -> Result<Option<u64>> {
        let setting = self
            .get_setting("daily_token_limit")
            .await
            .map_err(ledger_err("reading daily_token_limit"))?;
        match setting {
            None => Ok(None),
            Some(s) if s.value.trim().is_empty() => Ok(None),
            Some(s) => s.value.trim().parse().map(Some).map_err(|_| Error::Ledger {
                action: "reading daily_token_limit",
                reason: format!("{:?} is not a number", s.value),
            }),
        }
    }
}

/// Prices per model from `finops.pricing`. A key may be `provider/model` (any alias of the
/// provider id), a bare model name, or a provider id (all models of that provider); the
/// most specific key wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    entries: BTreeMap<String, Pricing>,
}

/// The price that applies to a model and the key it was found under.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceMatch<'a> {
    /// The `finops.pricing` key.
    pub key: &'a str,
    /// The prices (USD per 1,000 tokens).
    pub pricing: &'a Pricing,
}

impl PriceTable {
    /// The table of a FinOps configuration.
    pub fn from_config(cfg: &FinOpsConfig) -> Self {
        Self {
            entries: cfg.pricing.clone(),
        }
    }

    /// The price of a model, if one is configured.
    pub fn price(&self, model: &ModelRef) -> Option<PriceMatch<'_>> {
        let mut ids = vec![model.provider.as_str()];
        if let Some(info) = provider_info(&model.provider) {
            ids.push(info.config_key);
            ids.extend(info.aliases.iter().copied());
        }
        let specific = ids.iter().map(|id| format!("{id}/{}", model.model));
        let candidates: Vec<String> = specific
            .chain(std::iter::once(model.model.clone()))
            .chain(ids.iter().map(|id| (*id).to_owned()))
            .collect();
        candidates.iter().find_map(|c| {
            self.entries
                .get_key_value(c.as_str())
                .map(|(key, pricing)| PriceMatch { key, pricing })
        })
    }

    /// The cost of a call in USD, or `None` without a price.
    pub fn cost(&self, model: &ModelRef, usage: Usage) -> Option<f64> {
        self.price(model).map(|p| cost(p.pricing, usage))
    }
}

/// `(prompt × promptPer1k + completion × completionPer1k) / 1000`
pub fn cost(p: &Pricing, usage: Usage) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let (i, o) = (usage.input_tokens as f64, usage.output_tokens as f64);
    (i * p.prompt_per_1k_tokens + o * p.completion_per_1k_tokens) / 1000.0
}

/// The FinOps recorder: prices and budgets (present only when `finops.enabled`).
#[derive(Debug, Clone)]
pub(crate) struct FinOps {
    pub(crate) prices: PriceTable,
    pub(crate) daily_budget: f64,
    pub(crate) monthly_budget: f64,
}

impl FinOps {
    pub(crate) fn from_config(cfg: &FinOpsConfig) -> Self {
        Self {
            prices: PriceTable::from_config(cfg),
            daily_budget: cfg.daily_budget,
            monthly_budget: cfg.monthly_budget,
        }
    }

    pub(crate) fn has_budget(&self) -> bool {
        self.daily_budget > 0.0 || self.monthly_budget > 0.0
    }

    /// Refuses the call when a budget is spent, or when the prompt alone (estimated at
    /// `prompt_tokens`) would go beyond it. The answer's cost is unknown in advance, so
    /// one call can end slightly over a budget; the next one is then refused.
    pub(crate) async fn check(
        &self,
        ledger: &dyn UsageLedger,
        model: &ModelRef,
        prompt_tokens: u64,
    ) -> Result<()> {
        let estimated = self
            .prices
            .cost(
                model,
                Usage {
                    input_tokens: prompt_tokens,
                    output_tokens: 0,
                },
            )
            .unwrap_or(0.0);
        if self.daily_budget > 0.0 {
            let spent = ledger.spent_today().await?.cost_usd;
            over("finops.dailyBudget", self.daily_budget, spent, estimated)?;
        }
        if self.monthly_budget > 0.0 {
            let spent = ledger.spent_this_month().await?.cost_usd;
            over(
                "finops.monthlyBudget",
                self.monthly_budget,
                spent,
                estimated,
            )?;
        }
        Ok(())
    }
}

fn over(budget: &'static str, limit: f64, spent: f64, estimated: f64) -> Result<()> {
    if spent >= limit || spent + estimated > limit {
        return Err(Error::BudgetExceeded {
            budget,
            limit,
            spent,
            estimated,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: f64, o: f64) -> Pricing {
        Pricing {
            prompt_per_1k_tokens: i,
            completion_per_1k_tokens: o,
        }
    }

    #[test]
    fn most_specific_price_wins() {
        let cfg = FinOpsConfig {
            pricing: [
                ("anthropic".to_owned(), p(3.0, 15.0)),
                ("claude/claude-haiku".to_owned(), p(1.0, 5.0)),
                ("gpt-4o".to_owned(), p(2.5, 10.0)),
            ]
            .into_iter()
            .collect(),
            ..FinOpsConfig::default()
        };
        let t = PriceTable::from_config(&cfg);
        let m = |s: &str| ModelRef::parse(s).unwrap();
        assert_eq!(
            t.price(&m("claude/claude-haiku")).unwrap().key,
            "claude/claude-haiku"
        );
        assert_eq!(
            t.price(&m("anthropic/claude-sonnet")).unwrap().key,
            "anthropic"
        );
        assert_eq!(t.price(&m("openai/gpt-4o")).unwrap().key, "gpt-4o");
        assert!(t.price(&m("groq/llama")).is_none());
        let c = t
            .cost(
                &m("claude/claude-haiku"),
                Usage {
                    input_tokens: 2000,
                    output_tokens: 100,
                },
            )
            .unwrap();
        assert!((c - 2.5).abs() < 1e-9, "{c}");
    }

    #[test]
    fn budget_refuses_when_spent_or_overrun() {
        assert!(over("b", 1.0, 0.5, 0.4).is_ok());
        assert!(over("b", 1.0, 1.0, 0.0).is_err());
        let e = over("finops.dailyBudget", 1.0, 0.9, 0.2).unwrap_err();
        assert!(
            e.to_string().starts_with("finops.dailyBudget exhausted"),
            "{e}"
        );
    }
}
