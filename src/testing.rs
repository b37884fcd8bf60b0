//! Fault injection for tests: `[testing] fail_at = "<flow>:<step>:panic|error|drop_cast|kill"`.
//!
//! Faults are applied inside the flow-step runner (panic, error) and where a flow is handed to
//! the task manager (drop_cast) — the real supervision path, not a test-only actor. `kill`
//! SIGKILLs the whole process once the step's work is done and before its outcome is recorded
//! (the step runs again after the restart, which a test starts without the fault). Each fault
//! fires once per flow and step, so a flow that survives it can go on. Config validation
//! refuses `fail_at` unless `[testing] enabled` is true.

use parking_lot::Mutex;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Panic,
    Error,
    DropCast,
    Kill,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    flow: String,
    step: Option<i32>,
    fault: Fault,
}

#[derive(Default)]
pub struct FaultInjector {
    rules: Vec<Rule>,
    fired: Mutex<HashSet<(String, i32, &'static str)>>,
}

impl FaultInjector {
    /// Parses `fail_at`; an empty string injects nothing.
    pub fn parse(spec: &str) -> Result<FaultInjector, String> {
        let mut rules = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = item.split(':').collect();
            let [flow, step, fault] = parts.as_slice() else {
                return Err(format!("fail_at item {item:?}: expected <flow>:<step>:<fault>"));
            };
            let step = match *step {
                "*" => None,
                s => Some(
                    s.parse::<i32>()
                        .map_err(|_| format!("fail_at item {item:?}: step must be a number or *"))?,
                ),
            };
            let fault = match *fault {
                "panic" => Fault::Panic,
                "error" => Fault::Error,
                "drop_cast" => Fault::DropCast,
                "kill" => Fault::Kill,
                other => return Err(format!("fail_at item {item:?}: unknown fault {other:?}")),
            };
            rules.push(Rule {
                flow: flow.to_string(),
                step,
                fault,
            });
        }
        Ok(FaultInjector {
            rules,
            fired: Mutex::new(HashSet::new()),
        })
    }

    /// The fault to inject now into `flow_id` (of `kind`) at `step`, if any; each fires once.
    pub fn take(&self, kind: &str, flow_id: &str, step: i32, wanted: &[Fault]) -> Option<Fault> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.flow == kind && r.step.is_none_or(|s| s == step) && wanted.contains(&r.fault))?;
        let tag = match rule.fault {
            Fault::Panic => "panic",
            Fault::Error => "error",
            Fault::DropCast => "drop_cast",
            Fault::Kill => "kill",
        };
        self.fired
            .lock()
            .insert((flow_id.to_string(), step, tag))
            .then_some(rule.fault)
    }
}

impl FaultInjector {
    /// How many times a fault of kind `tag` (`panic`, `error`, `drop_cast`) has fired.
    pub fn fired(&self, tag: &str) -> usize {
        self.fired.lock().iter().filter(|(_, _, t)| *t == tag).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_fires_once_per_flow_and_step() {
        let f = FaultInjector::parse("create:2:panic, delete:*:error").expect("parse");
        assert_eq!(f.take("create", "a", 1, &[Fault::Panic]), None);
        assert_eq!(f.take("create", "a", 2, &[Fault::Panic]), Some(Fault::Panic));
        assert_eq!(f.take("create", "a", 2, &[Fault::Panic]), None);
        assert_eq!(f.take("create", "b", 2, &[Fault::Panic]), Some(Fault::Panic));
        assert_eq!(
            f.take("delete", "c", 7, &[Fault::Panic, Fault::Error]),
            Some(Fault::Error)
        );
        assert!(FaultInjector::parse("create:x:panic").is_err());
        assert!(FaultInjector::parse("create:1:explode").is_err());
    }
}
