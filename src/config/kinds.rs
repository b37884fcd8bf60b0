//! The configuration's closed sets of names as enums: a value outside the set is refused by
//! the loader, which names the key (see [`super::Config::from_toml_and_env`]).

use serde::{Deserialize, Serialize};

/// `[bus] transport`: the in-process bus (one process) or RabbitMQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Memory,
    Amqp,
}

/// `[compute] guest_host`: guests as sessions in the task manager's process, or as their own
/// processes (each real instance's `coffer guest`, simulated ones in pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestHost {
    InProcess,
    Process,
}

/// `[auth] mode`: Keystone-style tokens, or no authentication (local development only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    Keystone,
    Noauth,
}

/// `[log] format`: human-readable lines or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Names the key a TOML error is about: `[section] key: message` (the error's span points into
/// `text`), or the error as it is when it has no span.
pub fn naming_the_key(text: &str, error: &toml::de::Error) -> String {
    let Some(at) = error.span().map(|s| s.start) else {
        return error.to_string();
    };
    let before = &text[..at.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let key = line.split('=').next().unwrap_or(line).trim();
    let section = before[..line_start]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|s| format!("[{s}] "))
        .unwrap_or_default();
    format!("{section}{key}: {}", error.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_its_key() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Log {
            format: LogFormat,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            log: Log,
        }
        let text = "[log]\nformat = \"yaml\"\n";
        let err = toml::from_str::<Doc>(text).expect_err("yaml is not a format");
        let named = naming_the_key(text, &err);
        assert!(named.starts_with("[log] format: unknown variant `yaml`"), "{named}");
    }

    #[test]
    fn the_loader_names_the_key_of_a_bad_value() {
        let from_env = [("COFFER_BUS_TRANSPORT".to_string(), "carrier-pigeon".to_string())];
        let err = super::super::Config::from_toml_and_env("", from_env.into_iter()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("[bus] transport: unknown variant `carrier-pigeon`"),
            "{err}"
        );
        let err = super::super::Config::from_toml_and_env("[auth]\nmode = \"open\"\n", std::iter::empty())
            .expect_err("refused");
        assert!(err.to_string().contains("[auth] mode: unknown variant `open`"), "{err}");
        let ok =
            super::super::Config::from_toml_and_env("[compute]\nguest_host = \"in_process\"\n", std::iter::empty());
        assert_eq!(ok.expect("valid").compute.guest_host, GuestHost::InProcess);
    }
}
