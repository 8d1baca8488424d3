//! The chat chain between the agent loop and the providers: classifier → model resolution
//! → prompt guard → token quota → budgets → the call (retries, fallbacks) → usage and
//! cost recording → output sanitizer.

use std::sync::Arc;

use futures::StreamExt;
use kafclaw_config::Config;

use crate::middleware::classifier::Classifier;
use crate::middleware::finops::{FinOps, UsageLedger, UsageRecord};
use crate::middleware::guard::PromptGuard;
use crate::middleware::sanitizer::OutputSanitizer;
use crate::middleware::{Action, MiddlewareEvent, Stage};
use crate::provider::{Provider, StreamAssembler};
use crate::registry::{ModelRef, ProviderSet};
use crate::resolve::{ModelPlan, ModelSource, Resolver};
use crate::retry::RetryPolicy;
use crate::types::{ChatDelta, ChatRequest, ChatResponse};
use crate::{Error, Result};

/// Who is calling and for what; it travels with each call (never stored on the chain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The task whose totals the call's usage is added to.
    pub task_id: Option<String>,
    /// The agent identity (selects `agents.list[].model`).
    pub agent_id: Option<String>,
    /// Task category for `model.taskRouting` (the classifier infers one when this is empty).
    pub task_type: Option<String>,
    /// A `provider/model` string that overrides resolution (a sensitivity reroute still wins).
    pub model: Option<String>,
}

impl CallContext {
    /// A context for a task.
    pub fn for_task(task_id: impl Into<String>) -> Self {
        Self {
            task_id: Some(task_id.into()),
            ..Self::default()
        }
    }
}

/// The answer with what the chain did on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainReply {
    /// The (sanitized) answer.
    pub response: ChatResponse,
    /// The model that answered.
    pub model: ModelRef,
    /// Where the first model of the plan came from.
    pub source: ModelSource,
    /// Cost in USD, when FinOps is on and a price is configured.
    pub cost_usd: Option<f64>,
    /// The decisions of the chain, in order.
    pub events: Vec<MiddlewareEvent>,
}

/// Receives streamed deltas as they arrive.
pub type DeltaSink<'a> = &'a mut (dyn FnMut(&ChatDelta) + Send);

/// A sink reborrowed for one step (the reference may live shorter than the closure).
type Sink<'r, 's> = Option<&'r mut (dyn FnMut(&ChatDelta) + Send + 's)>;

/// Builds a [`ChatChain`] from a configuration.
pub struct ChatChainBuilder {
    config: Config,
    providers: Option<ProviderSet>,
    ledger: Option<Arc<dyn UsageLedger>>,
    retry: Option<RetryPolicy>,
}

impl ChatChainBuilder {
    /// Where usage is recorded and budgets are read (normally the timeline). Without one,
    /// nothing is recorded and quota and budgets cannot be checked.
    pub fn ledger(mut self, ledger: Arc<dyn UsageLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Replaces the retry policy built from `model.maxAttempts` / `model.maxRetryWait`.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Replaces the provider clients built from `providers`.
    pub fn providers(mut self, providers: ProviderSet) -> Self {
        self.providers = Some(providers);
        self
    }

    /// Checks the configuration (model strings, patterns, detector names) and builds the
    /// chain; an error names the config key.
    pub fn build(self) -> Result<ChatChain> {
        let c = &self.config;
        let resolver = Resolver::from_config(c);
        resolver.validate()?;
        let providers = match self.providers {
            Some(p) => p,
            None => ProviderSet::from_config(&c.providers, c.model.request_timeout.get())?,
        };
        let classifier = if c.content_classification.enabled {
            Some(Classifier::from_config(&c.content_classification)?)
        } else {
            None
        };
        let guard = if c.prompt_guard.enabled {
            Some(PromptGuard::from_config(&c.prompt_guard)?)
        } else {
            None
        };
        let sanitizer = if c.output_sanitization.enabled {
            Some(OutputSanitizer::from_config(&c.output_sanitization)?)
        } else {
            None
        };
        let finops = c.finops.enabled.then(|| FinOps::from_config(&c.finops));
        if let Some(f) = &finops
            && f.has_budget()
            && self.ledger.is_none()
        {
            return Err(Error::Config {
                key: "finops".into(),
                problem: "budgets need a usage ledger (the timeline) to read spending from".into(),
            });
        }
        Ok(ChatChain {
            providers,
            resolver,
            retry: self
                .retry
                .unwrap_or_else(|| RetryPolicy::from_config(&c.model)),
            classifier,
            guard,
            sanitizer,
            finops,
            daily_token_limit: c.policy.daily_token_limit,
            ledger: self.ledger,
            max_tokens: c.model.max_tokens,
            temperature: c.model.temperature,
        })
    }
}

/// The middleware chain around the providers. Each unit is off unless its config section
/// enables it; token usage is always recorded when a ledger is attached.
pub struct ChatChain {
    providers: ProviderSet,
    resolver: Resolver,
    retry: RetryPolicy,
    classifier: Option<Classifier>,
    guard: Option<PromptGuard>,
    sanitizer: Option<OutputSanitizer>,
    finops: Option<FinOps>,
    daily_token_limit: u64,
    ledger: Option<Arc<dyn UsageLedger>>,
    max_tokens: u32,
    temperature: f64,
}

/// A failed call of one model, and whether deltas had already gone to the caller (then
/// nothing may be retried).
struct Failure {
    error: Error,
    streamed: bool,
}

impl ChatChain {
    /// A builder for this configuration.
    pub fn builder(config: &Config) -> ChatChainBuilder {
        ChatChainBuilder {
            config: config.clone(),
            providers: None,
            ledger: None,
            retry: None,
        }
    }

    /// The model plan a call with this context would use (without the classifier).
    pub fn plan(&self, ctx: &CallContext) -> Result<ModelPlan> {
        match &ctx.model {
            Some(m) => self.resolver.explicit(m),
            None => self
                .resolver
                .resolve(ctx.agent_id.as_deref(), ctx.task_type.as_deref()),
        }
    }

    /// One chat completion through the whole chain. `request.model` is ignored: the
    /// model comes from `ctx` and the configuration.
    pub async fn chat(&self, ctx: &CallContext, request: ChatRequest) -> Result<ChainReply> {
        self.run(ctx, request, None).await
    }

    /// Like [`ChatChain::chat`], streaming: `sink` receives the deltas as they arrive and
    /// the assembled answer is returned at the end. Retries and fallbacks happen only
    /// before the first delta. With the output sanitizer on, the answer is held back and
    /// `sink` receives the sanitized text as one delta at the end.
    pub async fn chat_streaming(
        &self,
        ctx: &CallContext,
        request: ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChainReply> {
        self.run(ctx, request, Some(sink)).await
    }

    async fn run<'s>(
        &self,
        ctx: &CallContext,
        mut req: ChatRequest,
        mut sink: Sink<'_, 's>,
    ) -> Result<ChainReply> {
        if req.messages.is_empty() {
            return Err(Error::InvalidRequest {
                reason: "no messages".into(),
            });
        }
        req.max_tokens.get_or_insert(self.max_tokens);
        req.temperature.get_or_insert(self.temperature);
        req.stream = sink.is_some();
        let mut events = Vec::new();

        // 1. classifier: tags, task type, reroute
        let mut task_type = ctx.task_type.clone();
        let mut reroute = None;
        if let Some(c) = &self.classifier {
            let cls = c.classify(&req.messages, &mut events);
            if task_type.is_none() {
                task_type = cls.task_type.map(str::to_owned);
            }
            if let Some((level, Some(model))) = cls.sensitivity {
                reroute = Some((level, model));
            }
        }

        // 2. which models
        let plan = match reroute {
            Some((level, model)) => {
                events.push(MiddlewareEvent::new(
                    Stage::Classifier,
                    Action::Reroute,
                    format!("sensitivity {level}: routed to {model}, without fallbacks"),
                ));
                ModelPlan {
                    primary: model,
                    fallbacks: Vec::new(),
                    source: ModelSource::Sensitivity { level },
                }
            }
            None => self.plan(&CallContext {
                task_type,
                ..ctx.clone()
            })?,
        };
        for m in plan.models() {
            self.providers.get(&m.provider)?;
        }
        events.push(MiddlewareEvent::new(
            Stage::Router,
            Action::Tag,
            format!("model {} (from {})", plan.primary, plan.source),
        ));

        // 3. prompt guard
        if let Some(g) = &self.guard {
            g.apply(&mut req.messages, &mut events)?;
        }

        // 4. quota and budgets, before anything is sent
        let estimate = estimate_prompt_tokens(&req);
        if let Some(ledger) = &self.ledger {
            let limit = ledger
                .daily_token_limit()
                .await?
                .unwrap_or(self.daily_token_limit);
            if limit > 0 {
                let used = ledger.spent_today().await?.tokens;
                kafclaw_policy::check_quota(limit, used, estimate)?;
            }
            if let Some(f) = &self.finops {
                f.check(ledger.as_ref(), &plan.primary, estimate).await?;
            }
        }

        // 5. the call
        let streaming = sink.is_some();
        let (mut response, model) = {
            let live_sink = if self.sanitizer.is_some() {
                None
            } else {
                sink.as_deref_mut()
            };
            self.call(&plan, &req, streaming, live_sink, &mut events)
                .await?
        };

        // 6. usage and cost
        let cost_usd = self
            .finops
            .as_ref()
            .and_then(|f| f.prices.cost(&model, response.usage));
        if let (Some(f), Some(cost)) = (&self.finops, cost_usd)
            && f.daily_budget > 0.0
            && cost > f.daily_budget * 0.1
        {
            events.push(MiddlewareEvent::new(
                Stage::FinOps,
                Action::Warn,
                format!(
                    "this call cost {cost:.4} USD, more than 10% of finops.dailyBudget ({:.4})",
                    f.daily_budget
                ),
            ));
        }
        self.record(ctx, &model, &response, cost_usd, &mut events)
            .await;

        // 7. output sanitizer
        if let Some(s) = &self.sanitizer {
            s.apply(&mut response, &mut events);
            if let Some(sink) = sink
                && !response.content.is_empty()
            {
                sink(&ChatDelta::Text(response.content.clone()));
            }
        }
        Ok(ChainReply {
            response,
            model,
            source: plan.source,
            cost_usd,
            events,
        })
    }

    async fn record(
        &self,
        ctx: &CallContext,
        model: &ModelRef,
        response: &ChatResponse,
        cost_usd: Option<f64>,
        events: &mut Vec<MiddlewareEvent>,
    ) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        let record = UsageRecord {
            task_id: ctx.task_id.clone(),
            provider: model.provider.clone(),
            model: model.model.clone(),
            usage: response.usage,
            cost_usd: cost_usd.unwrap_or(0.0),
        };
        let detail = format!(
            "{} tokens in, {} out{}",
            record.usage.input_tokens,
            record.usage.output_tokens,
            cost_usd.map_or(String::new(), |c| format!(", {c:.6} USD"))
        );
        match ledger.record(record).await {
            Ok(()) => events.push(MiddlewareEvent::new(Stage::FinOps, Action::Record, detail)),
            Err(e) => {
                tracing::warn!(error = %e, "model usage was not recorded");
                events.push(MiddlewareEvent::new(
                    Stage::FinOps,
                    Action::Warn,
                    format!("usage not recorded ({detail}): {e}"),
                ));
            }
        }
    }

    /// Tries the models of the plan in order.
    async fn call<'s>(
        &self,
        plan: &ModelPlan,
        req: &ChatRequest,
        streaming: bool,
        mut sink: Sink<'_, 's>,
        events: &mut Vec<MiddlewareEvent>,
    ) -> Result<(ChatResponse, ModelRef)> {
        let mut tried = Vec::new();
        let mut last: Option<Error> = None;
        for model in plan.models() {
            if let Some(prev) = &last {
                events.push(MiddlewareEvent::new(
                    Stage::Router,
                    Action::Fallback,
                    format!("{} failed ({prev}); trying {model}", tried.join(", ")),
                ));
            }
            let provider = self.providers.get(&model.provider)?;
            let mut r = req.clone();
            r.model.clone_from(&model.model);
            match self
                .call_model(
                    provider.as_ref(),
                    model,
                    &r,
                    streaming,
                    sink.as_deref_mut(),
                    events,
                )
                .await
            {
                Ok(resp) => return Ok((resp, model.clone())),
                Err(Failure { error, streamed }) => {
                    tried.push(model.to_string());
                    if streamed || !error.allows_fallback() {
                        return Err(error);
                    }
                    last = Some(error);
                }
            }
        }
        let last = last.unwrap_or_else(|| Error::InvalidRequest {
            reason: "the model plan is empty".into(),
        });
        if tried.len() <= 1 {
            return Err(last);
        }
        Err(Error::AllModelsFailed {
            tried,
            last: Box::new(last),
        })
    }

    /// One model with retries.
    async fn call_model<'s>(
        &self,
        provider: &dyn Provider,
        model: &ModelRef,
        req: &ChatRequest,
        streaming: bool,
        mut sink: Sink<'_, 's>,
        events: &mut Vec<MiddlewareEvent>,
    ) -> std::result::Result<ChatResponse, Failure> {
        let mut attempt = 1;
        loop {
            let result = if streaming {
                stream_once(provider, req, sink.as_deref_mut()).await
            } else {
                provider.chat(req).await.map_err(|error| Failure {
                    error,
                    streamed: false,
                })
            };
            let failure = match result {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            if failure.streamed {
                return Err(failure);
            }
            let Some(wait) = self.retry.delay(attempt, &failure.error) else {
                return Err(failure);
            };
            events.push(MiddlewareEvent::new(
                Stage::Router,
                Action::Retry,
                format!(
                    "{model} attempt {attempt} of {} failed ({}); retrying in {} ms",
                    self.retry.max_attempts,
                    failure.error,
                    wait.as_millis()
                ),
            ));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// One streamed call, deltas forwarded to `sink` (when given) as they arrive.
async fn stream_once<'s>(
    provider: &dyn Provider,
    req: &ChatRequest,
    mut sink: Sink<'_, 's>,
) -> std::result::Result<ChatResponse, Failure> {
    let mut stream = provider.chat_stream(req).await.map_err(|error| Failure {
        error,
        streamed: false,
    })?;
    let mut assembler = StreamAssembler::new(provider.id(), &req.model);
    let mut streamed = false;
    while let Some(item) = stream.next().await {
        let delta = item.map_err(|error| Failure { error, streamed })?;
        if let Some(sink) = sink.as_deref_mut() {
            sink(&delta);
            streamed = true;
        }
        assembler.push(delta);
    }
    assembler
        .finish()
        .map_err(|error| Failure { error, streamed })
}

/// A rough prompt size: about four characters per token, plus a few per message.
pub fn estimate_prompt_tokens(req: &ChatRequest) -> u64 {
    let mut chars = 0usize;
    for m in &req.messages {
        chars += m.content.chars().count() + 16;
        for c in &m.tool_calls {
            chars += c.name.len() + c.arguments.to_string().len();
        }
    }
    for t in &req.tools {
        chars += t.name.len() + t.description.len() + t.parameters.to_string().len();
    }
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}
