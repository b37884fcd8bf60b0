//! The ids that travel between components — an instance's, a backup's, a project's — as types
//! of their own, so that one is never passed where another is meant. On the wire and in the
//! database each is its plain text (a UUID for instances and backups; Keystone's project id).
//! An id is shared text: clones of one (an instance's guest session, its bus link, the maps
//! that find them) share one copy of it.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        /// Read straight into the shared text: one allocation, where serde's own `Arc<str>`
        /// goes through a `Box<str>` and copies it (every heartbeat carries an instance id).
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                deserializer.deserialize_str(SharedTextVisitor).map($name)
            }
        }

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into().into())
            }

            /// A new random id (a UUID).
            pub fn generate() -> $name {
                $name(uuid::Uuid::new_v4().to_string().into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// An id reads as its text wherever text is wanted (a topic, a path, a query).
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Maps keyed by the id are looked up with a `&str` too.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id.into())
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.into())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }
    };
}

/// Reads a string as `Arc<str>`, copying it once from whatever the deserializer holds.
struct SharedTextVisitor;

impl Visitor<'_> for SharedTextVisitor {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id as a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Arc<str>, E> {
        Ok(Arc::from(text))
    }
}

id_type!(
    /// A database instance's id.
    InstanceId
);
id_type!(
    /// A backup's id.
    BackupId
);
id_type!(
    /// A Keystone project's id (Trove's tenant).
    ProjectId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_text_on_the_wire() {
        let id = InstanceId::new("3f0c");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"3f0c\"");
        let back: BackupId = serde_json::from_str("\"b1\"").unwrap();
        assert_eq!(back.as_str(), "b1");
        let escaped: ProjectId = serde_json::from_str(r#""p\u0031""#).unwrap();
        assert_eq!(escaped.as_str(), "p1", "an escaped string is read too");
        assert!(
            serde_json::from_str::<InstanceId>("7").is_err(),
            "a number is not an id"
        );
        let mut seen = std::collections::HashMap::new();
        seen.insert(id.clone(), 1);
        assert_eq!(seen.get("3f0c"), Some(&1), "looked up by &str");
    }
}
