//! kafclaw-providers: how a KafClaw agent talks to LLMs. It defines our own chat,
//! tool-call, streaming and embedding types and the [`Provider`] trait; implements it for
//! OpenAI-compatible APIs ([`OpenAiCompatible`]: openai, openrouter, deepseek, groq, vllm,
//! xai, scalytics-copilot, Gemini's OpenAI endpoint) and natively for Anthropic's Messages
//! API ([`Anthropic`]); resolves `provider/model` strings in the seeds' order
//! ([`Resolver`]); and wraps the providers in the [`ChatChain`]: content classifier, prompt
//! guard, daily token quota, FinOps budgets, retries with jittered backoff that honour
//! `Retry-After`, fallback models, usage and cost recorded per task in the timeline, and the
//! output sanitizer.
//!
//! It is NOT the agent loop (it makes one model call per request and runs no tools), it
//! stores no conversations, and it has no built-in price list: prices come from
//! `finops.pricing`. HTTPS uses rustls with the ring provider and the platform's
//! certificate store.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kafclaw_providers::{CallContext, ChatChain, ChatMessage, ChatRequest};
//!
//! # async fn demo(loaded: kafclaw_config::LoadedConfig, tl: kafclaw_timeline::Timeline)
//! # -> Result<(), kafclaw_providers::Error> {
//! let chain = ChatChain::builder(&loaded.config).ledger(Arc::new(tl)).build()?;
//! let reply = chain
//!     .chat(
//!         &CallContext::for_task("task-1"),
//!         ChatRequest::new(vec![ChatMessage::user("Hello")]),
//!     )
//!     .await?;
//! println!("{} ({} via {})", reply.response.content, reply.model, reply.source);
//! # Ok(()) }
//! ```

mod anthropic;
mod chain;
mod error;
mod http;
mod json;
mod middleware;
mod openai;
mod provider;
mod registry;
mod resolve;
mod retry;
mod sse;
mod streaming;
mod types;

pub use anthropic::{ANTHROPIC_VERSION, Anthropic};
pub use chain::{
    CallContext, ChainReply, ChatChain, ChatChainBuilder, DeltaSink, estimate_prompt_tokens,
};
pub use error::{Error, Result};
pub use middleware::classifier::TASK_TYPES;
pub use middleware::finops::{PriceMatch, PriceTable, Spent, UsageLedger, UsageRecord, cost};
pub use middleware::patterns::{PII_DETECTORS, SECRET_DETECTORS};
pub use middleware::sanitizer::{TRUNCATED, WITHHELD};
pub use middleware::{Action, MiddlewareEvent, Stage};
pub use openai::OpenAiCompatible;
pub use provider::{ChatStream, Provider, StreamAssembler};
pub use registry::{
    DEFAULT_PROVIDER, ModelRef, PROVIDERS, ProviderInfo, ProviderSet, ProviderStatus, WireFormat,
    provider_info, provider_status,
};
pub use resolve::{ModelPlan, ModelSource, Resolver};
pub use retry::RetryPolicy;
pub use types::{
    ChatDelta, ChatMessage, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Role, Speech,
    SpeechRequest, StopReason, ToolCall, ToolSpec, TranscribeRequest, Usage,
};
