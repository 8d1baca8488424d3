//! The onboarding payload: request, challenge, response, complete, reject.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AgentIdentity, TopicManifest};

wire_enum! {
    /// `action` of an onboarding payload.
    OnboardAction {
        /// A newcomer asks to join (correlation id `onboard-<ns>`).
        Request = "onboard_request",
        /// A sponsor asks the newcomer to prove itself (gated groups).
        Challenge = "onboard_challenge",
        /// The newcomer answers a challenge.
        Response = "onboard_response",
        /// A sponsor admits the newcomer and sends its topic manifest.
        Complete = "onboard_complete",
        /// A sponsor refuses the newcomer.
        Reject = "onboard_reject",
    }
}

/// Payload of envelope type `onboard` on `group.{g}.control.onboarding`.
///
/// Every reply reuses the request's correlation id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct OnboardPayload {
    /// One of the five [`OnboardAction`]s.
    #[schemars(extend("enum" = OnboardAction::NAMES))]
    pub action: String,
    /// The newcomer's agent id.
    pub requester_id: String,
    /// The answering member (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sponsor_id: String,
    /// The newcomer's identity (request and response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<AgentIdentity>,
    /// The newcomer's skills (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub skills: Vec<String>,
    /// The sponsor's challenge (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub challenge: String,
    /// The newcomer's answer (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub response: String,
    /// The sponsor's topic manifest (complete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<TopicManifest>,
    /// Why the newcomer was rejected (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl OnboardPayload {
    /// A payload with `action` and `requester_id` set, everything else empty.
    pub fn new(action: OnboardAction, requester_id: impl Into<String>) -> Self {
        OnboardPayload {
            action: action.as_str().to_owned(),
            requester_id: requester_id.into(),
            ..Self::default()
        }
    }

    /// The action, when it is one of the known ones.
    pub fn action(&self) -> Option<OnboardAction> {
        OnboardAction::parse(&self.action)
    }
}
