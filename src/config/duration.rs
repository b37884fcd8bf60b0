//! Durations in the configuration: every `…_s` and `…_ms` key is a `std::time::Duration` in
//! the code, written in the file (and the environment) as a number of seconds or milliseconds
//! under its existing name. Each adapter keeps the number's TOML type (a float where the key
//! always took fractions, an integer where it took whole numbers), and reads either.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::time::Duration;

/// A number of any TOML kind, as f64 (negative values are refused).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct Number;
    impl Visitor<'_> for Number {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a non-negative number")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
    }
    let n = d.deserialize_any(Number)?;
    if n.is_finite() && n >= 0.0 {
        Ok(n)
    } else {
        Err(de::Error::custom(format!("{n} is not a non-negative number")))
    }
}

/// Seconds, with fractions (`heartbeat_interval_s = 30.0`).
pub mod secs {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(number(d)?))
    }
}

/// Whole seconds (`shutdown_timeout_s = 5`).
pub mod whole_secs {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(number(d)?))
    }
}

/// Whole milliseconds (`poll_interval_ms = 2000`).
pub mod millis {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(number(d)? / 1000.0))
    }
}

/// Milliseconds, with fractions (`batch_linger_ms = 2.0`).
pub mod millis_f64 {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(number(d)? / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use std::time::Duration;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Keys {
        #[serde(with = "super::secs")]
        interval_s: Duration,
        #[serde(with = "super::millis")]
        poll_ms: Duration,
    }

    #[test]
    fn keys_keep_their_names_and_units() {
        let k: Keys = toml::from_str("interval_s = 30\npoll_ms = 250\n").expect("integers read");
        assert_eq!(k.interval_s, Duration::from_secs(30));
        assert_eq!(k.poll_ms, Duration::from_millis(250));
        let text = toml::to_string(&k).expect("ser");
        assert!(
            text.contains("interval_s = 30.0") && text.contains("poll_ms = 250"),
            "{text}"
        );
        assert!(toml::from_str::<Keys>("interval_s = -1\npoll_ms = 1\n").is_err());
    }
}
