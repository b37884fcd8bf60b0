//! A simulated server's configuration: the values written for its next start, and those it
//! runs with. A dynamic value runs at once; one that needs a restart runs after the next one.

use crate::guest::messages::{AppliedOverrides, Override};
use crate::guest::GuestError;
use crate::manager::Manager;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Default)]
pub(super) struct SimConfig {
    written: BTreeMap<String, Override>,
    running: BTreeMap<String, Value>,
    /// Each parameter ever set, and whether it takes a restart.
    restart_required: BTreeMap<String, bool>,
}

impl SimConfig {
    /// Trove's `update_overrides`.
    pub(super) fn write(&mut self, overrides: BTreeMap<String, Override>) -> Result<(), GuestError> {
        if let Some(name) = overrides
            .keys()
            .find(|n| crate::parameters::denied(Manager::Simulated, n))
        {
            return Err(GuestError::Unprocessable(format!(
                "The configuration parameter {name} cannot be set: coffer manages it."
            )));
        }
        for (name, o) in &overrides {
            self.restart_required.insert(name.clone(), o.restart_required);
        }
        self.written = overrides;
        Ok(())
    }

    /// Trove's `apply_overrides`: the dynamic values run now; the others wait.
    pub(super) fn apply(&mut self, overrides: BTreeMap<String, Override>) -> Result<AppliedOverrides, GuestError> {
        self.write(overrides)?;
        let mut pending = Vec::new();
        for (name, needs_restart) in &self.restart_required {
            let wanted = self.written.get(name).map(|o| o.value.clone());
            if wanted.as_ref() == self.running.get(name) {
                continue;
            }
            if *needs_restart {
                pending.push(name.clone());
            } else {
                match wanted {
                    Some(value) => self.running.insert(name.clone(), value),
                    None => self.running.remove(name),
                };
            }
        }
        Ok(AppliedOverrides {
            pending_restart: pending,
            refused: Vec::new(),
        })
    }

    /// A (re)start runs with what is written.
    pub(super) fn start(&mut self) {
        self.running = self.written.iter().map(|(n, o)| (n.clone(), o.value.clone())).collect();
    }

    /// The running values of `names` (a parameter no group set shows `default`).
    pub(super) fn shown(&self, names: Vec<String>) -> BTreeMap<String, String> {
        names
            .into_iter()
            .map(|name| {
                let value = match self.running.get(&name) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "default".to_string(),
                };
                (name, value)
            })
            .collect()
    }
}
