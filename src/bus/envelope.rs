//! The message envelope: `{"method", "args", "context", "version"}`, plus a reply address and
//! correlation id on calls. As in Trove, `sent` is an argument of `heartbeat` and
//! `update_backup`, not an envelope field.

use serde::{Deserialize, Serialize};

/// Who asked for the work, carried with every message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestContext {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The API request the message serves (oslo's `global_request_id`; `request_id` is the
    /// message's own and unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_request_id: Option<String>,
    /// The instance whose key signed a guest <-> control-plane message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// HMAC-SHA256 (base64) of the message under that instance's key (see `bus::signing`).
    #[serde(default, rename = "coffer_sig", skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// When the control plane signed a message to a guest (float epoch seconds): a guest drops
    /// one older than `[guest] message_ttl_s`, and one whose request id it has seen.
    #[serde(default, rename = "coffer_issued", skip_serializing_if = "Option::is_none")]
    pub issued: Option<f64>,
    /// True when the message's password arguments are sealed under that key.
    #[serde(default, rename = "coffer_sealed", skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub method: String,
    pub args: serde_json::Value,
    #[serde(default)]
    pub context: RequestContext,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

fn default_version() -> String {
    "1.0".into()
}

impl Envelope {
    pub fn new(method: &str, args: serde_json::Value) -> Envelope {
        Envelope {
            method: method.to_string(),
            args,
            context: RequestContext::default(),
            version: default_version(),
            reply_to: None,
            correlation_id: None,
        }
    }

    pub fn with_context(mut self, context: RequestContext) -> Envelope {
        self.context = context;
        self
    }

    /// Decodes `args` into the method's typed arguments.
    pub fn args<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(&self.args).map_err(|e| format!("malformed arguments for {}: {e}", self.method))
    }
}
