//! Signed guest messages (architecture.md §4): every message between a guest and the control
//! plane carries, in its context, the instance id and an HMAC-SHA256 under that instance's own
//! key over the canonical JSON (keys sorted, no spaces) of method, args, instance id, request id,
//! issue time and whether passwords are sealed; its password arguments are sealed
//! (ChaCha20-Poly1305) under a key derived from it. A guest or a conductor rejects a message that
//! is unsigned, or signed under any other key; a guest also drops an old or repeated request. A
//! guest signs its answer to a call as method `reply` with the call's request id ([`sign_reply`],
//! [`open_reply`]), so an answer cannot be forged or replayed.

use super::Envelope;
use crate::secrets::MasterKey;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Argument names whose string values are sealed on the wire.
const PASSWORD_FIELDS: [&str; 3] = ["password", "root_password", "shared_password"];

/// Why a guest message was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignError {
    #[error("the message is not signed")]
    Unsigned,
    #[error("the message is signed for instance {signed}, not {expected}")]
    WrongInstance { signed: String, expected: String },
    #[error("the message's signature does not verify under instance {0}'s key")]
    BadSignature(String),
    #[error("a sealed password does not open under instance {0}'s key")]
    Sealed(String),
    /// A signed request without the time it was issued at.
    #[error("the request carries no issue time")]
    NoIssueTime,
    #[error("the request was issued {age_s:.0} s ago, past [guest] message_ttl_s")]
    Expired { age_s: f64 },
    /// A request id taken before (a replayed message).
    #[error("request {0} was taken before")]
    Replayed(String),
    /// A key's text that is not 32 bytes in base64.
    #[error("guest key {0}")]
    BadKey(String),
}

/// One instance's guest key: 32 random bytes made when its server is provisioned.
pub struct GuestKey {
    bytes: [u8; 32],
    passwords: MasterKey,
    /// HMAC keyed with `bytes`, its pads hashed once: each message's MAC starts from a copy.
    keyed: Hmac<Sha256>,
}

impl GuestKey {
    pub fn generate() -> GuestKey {
        GuestKey::from_bytes(crate::secrets::random_bytes())
    }

    fn from_bytes(bytes: [u8; 32]) -> GuestKey {
        GuestKey {
            passwords: MasterKey::from_bytes(&derive(&bytes, "coffer message passwords")),
            // HMAC takes a key of any length.
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("HMAC accepts any key length"),
            bytes,
        }
    }

    /// A key from its base64 text (as stored, once unsealed, and as handed to a guest).
    pub fn from_base64(text: &str) -> Result<GuestKey, SignError> {
        let raw = B64
            .decode(text.trim())
            .map_err(|e| SignError::BadKey(format!("is not base64: {e}")))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|raw: Vec<u8>| SignError::BadKey(format!("has {} bytes, not 32", raw.len())))?;
        Ok(GuestKey::from_bytes(bytes))
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.bytes)
    }

    /// The key the guest seals its volume's secrets under (its datastore admin password).
    pub fn volume_key(&self) -> MasterKey {
        MasterKey::from_bytes(&derive(&self.bytes, "coffer volume secrets"))
    }

    fn mac(&self, envelope: &Envelope, instance_id: &str) -> Hmac<Sha256> {
        // The canonical JSON of {"args", "instance_id", "issued", "method", "request_id",
        // "sealed"} (keys in order), built in place.
        let mut text = String::with_capacity(256);
        text.push_str("{\"args\":");
        canonical(&envelope.args, &mut text);
        text.push_str(",\"instance_id\":");
        push_json_str(instance_id, &mut text);
        text.push_str(",\"issued\":");
        match envelope.context.issued {
            Some(t) => canonical(&Value::from(t), &mut text),
            None => text.push_str("null"),
        }
        text.push_str(",\"method\":");
        push_json_str(&envelope.method, &mut text);
        text.push_str(",\"request_id\":");
        push_json_str(&envelope.context.request_id, &mut text);
        text.push_str(if envelope.context.sealed {
            ",\"sealed\":true}"
        } else {
            ",\"sealed\":false}"
        });
        let mut mac = self.keyed.clone();
        mac.update(text.as_bytes());
        mac
    }
}

fn derive(key: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(purpose.as_bytes());
    hash.update(key);
    hash.finalize().into()
}

/// Seals the message's passwords and signs it as coming from (or going to) `instance_id`.
pub fn sign(envelope: &mut Envelope, instance_id: &str, key: &GuestKey) {
    let mut sealed = false;
    walk_passwords(&mut envelope.args, &mut |text| {
        *text = key.passwords.seal(text);
        sealed = true;
        Ok(())
    })
    .ok();
    envelope.context.sealed = sealed;
    envelope.context.instance_id = Some(instance_id.to_string());
    let tag = key.mac(envelope, instance_id).finalize().into_bytes();
    envelope.context.signature = Some(B64.encode(tag));
}

/// Checks that the message is signed for `instance_id` under its `key`, and opens its sealed
/// passwords.
pub fn verify(envelope: &mut Envelope, instance_id: &str, key: &GuestKey) -> Result<(), SignError> {
    let (Some(signed), Some(signature)) = (&envelope.context.instance_id, &envelope.context.signature) else {
        return Err(SignError::Unsigned);
    };
    if signed != instance_id {
        return Err(SignError::WrongInstance {
            signed: signed.clone(),
            expected: instance_id.to_string(),
        });
    }
    let bad = || SignError::BadSignature(instance_id.to_string());
    let tag = B64.decode(signature).map_err(|_| bad())?;
    key.mac(envelope, instance_id).verify_slice(&tag).map_err(|_| bad())?;
    if envelope.context.sealed {
        walk_passwords(&mut envelope.args, &mut |text| {
            *text = key
                .passwords
                .open(text)
                .map_err(|_| SignError::Sealed(instance_id.to_string()))?;
            Ok(())
        })?;
    }
    Ok(())
}

/// The field a signed answer travels in.
const SIGNED_REPLY: &str = "coffer_signed_reply";

/// A guest's answer to the call `request`, signed (passwords sealed) under its key.
pub fn sign_reply(result: Value, request: &Envelope, instance_id: &str, key: &GuestKey) -> Value {
    let mut reply = Envelope::new("reply", result);
    reply.context.request_id = request.context.request_id.clone();
    sign(&mut reply, instance_id, key);
    serde_json::json!({ SIGNED_REPLY: {"result": reply.args, "sig": reply.context.signature,
                                        "sealed": reply.context.sealed} })
}

/// Checks and opens the answer to the call `request` made to `instance_id`'s guest.
pub fn open_reply(answer: Value, request: &Envelope, instance_id: &str, key: &GuestKey) -> Result<Value, SignError> {
    let Some(Value::Object(mut signed)) = answer.get(SIGNED_REPLY).cloned() else {
        return Err(SignError::Unsigned);
    };
    let mut reply = Envelope::new("reply", signed.remove("result").unwrap_or(Value::Null));
    reply.context.request_id = request.context.request_id.clone();
    reply.context.instance_id = Some(instance_id.to_string());
    reply.context.signature = signed.get("sig").and_then(Value::as_str).map(str::to_string);
    reply.context.sealed = signed.get("sealed").and_then(Value::as_bool).unwrap_or(false);
    verify(&mut reply, instance_id, key)?;
    Ok(reply.args)
}

/// Calls `f` on every string value under a password field, at any depth.
fn walk_passwords(value: &mut Value, f: &mut dyn FnMut(&mut String) -> Result<(), SignError>) -> Result<(), SignError> {
    match value {
        Value::Object(map) => {
            for (name, v) in map.iter_mut() {
                match v {
                    Value::String(text) if PASSWORD_FIELDS.contains(&name.as_str()) => f(text)?,
                    other => walk_passwords(other, f)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_passwords(item, f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `text` as a JSON string.
fn push_json_str(text: &str, out: &mut String) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&Value::String(text.to_string()).to_string());
    }
}

/// JSON with object keys sorted and no whitespace, whatever order the map keeps; scalars as
/// serde_json writes them.
fn canonical(value: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        Value::Object(map) => {
            // In order already unless serde_json keeps insertion order (its `preserve_order`
            // feature): one pass checks, and only a map out of order is collected and sorted.
            if map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b) {
                canonical_entries(map.iter(), out);
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                canonical_entries(entries.into_iter(), out);
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => push_json_str(text, out),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // serde_json displays a number exactly as it serializes it.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
    }
}

/// An object's entries, given in key order, as canonical JSON.
fn canonical_entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(k, out);
        out.push(':');
        canonical(v, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prepare() -> Envelope {
        Envelope::new(
            "prepare",
            json!({"users": [{"name": "app", "password": "s3cret"}], "root_password": "r00t", "sent": 1.25}),
        )
    }

    /// The canonical form is what the signatures cover: it must stay byte for byte what
    /// serde_json writes for a sorted map, whatever the values.
    #[test]
    fn canonical_json_is_serde_jsons_sorted_compact_form() {
        let value = json!({
            "z": [1, -2, 18446744073709551615u64, -9223372036854775808i64, 0.1, 1.0e9, 1776000000.001,
                  1.0e21, 5e-324, -0.0, 2.5e-7, true, false, null],
            "a": {"b\"q": "tab\there", "é": "snow ☃ \u{1}", "": {}},
            "m": [[], [{}], "\\"],
        });
        let mut out = String::new();
        canonical(&value, &mut out);
        assert_eq!(out, serde_json::to_string(&value).expect("serializable"));
        let mut issued = String::new();
        canonical(&Value::from(1776000123.456_f64), &mut issued);
        assert_eq!(issued, Value::from(1776000123.456_f64).to_string());
    }

    #[test]
    fn signed_messages_verify_and_unseal_only_under_their_key() {
        let (key, other) = (GuestKey::generate(), GuestKey::generate());
        let mut e = prepare();
        sign(&mut e, "i1", &key);
        let wire = serde_json::to_string(&e).expect("json");
        assert!(
            !wire.contains("s3cret") && !wire.contains("r00t"),
            "passwords sealed: {wire}"
        );
        let mut back: Envelope = serde_json::from_str(&wire).expect("decodes");
        let mut forged = back.clone();
        verify(&mut back, "i1", &key).expect("verifies");
        assert_eq!(back.args, prepare().args);
        assert_eq!(
            verify(&mut forged.clone(), "i1", &other),
            Err(SignError::BadSignature("i1".into()))
        );
        assert!(matches!(
            verify(&mut forged.clone(), "i2", &key),
            Err(SignError::WrongInstance { .. })
        ));
        let mut unflagged = forged.clone();
        unflagged.context.sealed = false;
        assert!(verify(&mut unflagged, "i1", &key).is_err(), "the sealed flag is signed");
        forged.args["sent"] = json!(2.5);
        assert!(
            verify(&mut forged, "i1", &key).is_err(),
            "a changed argument breaks the signature"
        );
        assert_eq!(verify(&mut prepare(), "i1", &key), Err(SignError::Unsigned));
        // Answers: bound to their call, passwords sealed.
        let mut call = Envelope::new("enable_root", json!({}));
        call.context.request_id = "req-1".into();
        let answer = sign_reply(json!({"name": "root", "password": "pw!"}), &call, "i1", &key);
        assert!(!answer.to_string().contains("pw!"), "{answer}");
        let opened = open_reply(answer.clone(), &call, "i1", &key).expect("opens");
        assert_eq!(opened["password"], "pw!");
        let mut other_call = call.clone();
        other_call.context.request_id = "req-2".into();
        assert!(
            open_reply(answer.clone(), &other_call, "i1", &key).is_err(),
            "replayed to another call"
        );
        assert!(open_reply(answer, &call, "i1", &other).is_err(), "another key");
        assert_eq!(open_reply(json!(true), &call, "i1", &key), Err(SignError::Unsigned));
        let restored = GuestKey::from_base64(&key.to_base64()).expect("round trip");
        let mut again = prepare();
        sign(&mut again, "i1", &restored);
        verify(&mut again, "i1", &key).expect("same key after base64");
    }
}
