//! oslo.messaging's rabbit driver format: `{"oslo.version": "2.0", "oslo.message": "<JSON of
//! method, args, version, _context_*, _unique_id, and for a call _msg_id and _reply_q>"}`;
//! replies carry `result`, `failure`, `ending` and `_msg_id`. A body without the envelope (oslo's
//! older format) is read as the message itself.

use crate::bus::{Envelope, RequestContext};
use serde_json::{json, Map, Value};

/// oslo.messaging's envelope around a message.
pub(super) fn wrap(inner: Value) -> Vec<u8> {
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

/// The oslo message (the inner JSON) of a body, enveloped or not.
pub(super) fn unwrap(body: &[u8]) -> Result<Map<String, Value>, String> {
    let outer: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let inner = match outer.get("oslo.message").and_then(|m| m.as_str()) {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("oslo.message is not JSON: {e}"))?,
        None => outer,
    };
    match inner {
        Value::Object(map) => Ok(map),
        _ => Err("the message is not a JSON object".into()),
    }
}

pub(super) fn encode(envelope: &Envelope) -> Vec<u8> {
    let c = &envelope.context;
    let mut inner = json!({
        "method": envelope.method, "args": envelope.args, "version": envelope.version,
        "_unique_id": uuid::Uuid::new_v4().simple().to_string(),
        "_context_request_id": c.request_id, "_context_project_id": c.project_id,
        "_context_user_id": c.user_id, "_context_roles": c.roles,
    });
    if let Some(global) = &c.global_request_id {
        inner["_context_global_request_id"] = json!(global);
    }
    if let (Some(instance), Some(sig)) = (&c.instance_id, &c.signature) {
        inner["_context_instance_id"] = json!(instance);
        inner["_context_coffer_sig"] = json!(sig);
        inner["_context_coffer_sealed"] = json!(c.sealed);
        inner["_context_coffer_issued"] = json!(c.issued);
    }
    if let (Some(q), Some(id)) = (&envelope.reply_to, &envelope.correlation_id) {
        inner["_reply_q"] = json!(q);
        inner["_msg_id"] = json!(id);
    }
    wrap(inner)
}

/// Decodes a request (a cast or a call) in oslo's format.
pub(super) fn decode(body: &[u8]) -> Result<Envelope, String> {
    let m = unwrap(body)?;
    let text = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let method = text("method").ok_or("the message names no method")?;
    let context = RequestContext {
        request_id: text("_context_request_id").unwrap_or_default(),
        project_id: text("_context_project_id").or_else(|| text("_context_tenant")),
        user_id: text("_context_user_id").or_else(|| text("_context_user")),
        roles: m
            .get("_context_roles")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_default(),
        global_request_id: text("_context_global_request_id"),
        instance_id: text("_context_instance_id"),
        signature: text("_context_coffer_sig"),
        sealed: m
            .get("_context_coffer_sealed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        issued: m.get("_context_coffer_issued").and_then(Value::as_f64),
    };
    Ok(Envelope {
        method,
        args: m.get("args").cloned().unwrap_or_else(|| json!({})),
        context,
        version: text("version").unwrap_or_else(|| "1.0".into()),
        reply_to: text("_reply_q"),
        correlation_id: text("_msg_id"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oslo_envelopes_round_trip() {
        let mut e = Envelope::new("heartbeat", json!({"instance_id": "i", "sent": 1.5}));
        e.context.project_id = Some("p".into());
        e.reply_to = Some("reply_x".into());
        e.correlation_id = Some("m1".into());
        let back = decode(&encode(&e)).expect("decodes");
        assert_eq!(back, e);
        let outer: Value = serde_json::from_slice(&encode(&e)).expect("json");
        assert_eq!(outer["oslo.version"], "2.0");
        assert!(outer["oslo.message"].is_string());
        assert!(decode(b"{\"args\": {}}").is_err());
        assert!(decode(b"not json").is_err());
    }
}
