//! A decision sink that keeps decisions in memory, and request builders.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kafclaw_policy::{
    Decision, DecisionSink, ManualClock, PolicyConfig, PolicyEngine, SinkError, ToolRequest,
    ToolTier, TrustClass,
};

#[derive(Default)]
pub struct VecSink {
    pub decisions: Mutex<Vec<Decision>>,
}

impl VecSink {
    pub fn recorded(&self) -> Vec<Decision> {
        self.decisions.lock().unwrap().clone()
    }
}

#[async_trait]
impl DecisionSink for VecSink {
    async fn record(&self, decision: &Decision) -> Result<(), SinkError> {
        self.decisions.lock().unwrap().push(decision.clone());
        Ok(())
    }
}

pub struct FailingSink;

#[async_trait]
impl DecisionSink for FailingSink {
    async fn record(&self, _decision: &Decision) -> Result<(), SinkError> {
        Err("disk full".into())
    }
}

pub struct Harness {
    pub engine: PolicyEngine,
    pub sink: Arc<VecSink>,
    pub clock: Arc<ManualClock>,
}

pub fn harness(config: PolicyConfig) -> Harness {
    let sink = Arc::new(VecSink::default());
    let clock = Arc::new(ManualClock::new());
    let engine = PolicyEngine::with_clock(config, sink.clone(), clock.clone()).unwrap();
    Harness {
        engine,
        sink,
        clock,
    }
}

pub fn request(class: TrustClass, tool: &str, tier: Option<ToolTier>) -> ToolRequest {
    ToolRequest {
        tool: tool.to_owned(),
        tier,
        sender: format!("{class}-sender"),
        trust_class: class,
        channel: "test-channel".to_owned(),
        trace_id: Some("trace-1".to_owned()),
        task_id: Some("task-1".to_owned()),
    }
}
