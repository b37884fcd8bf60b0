//! How the RabbitMQ transport notices a broker that stopped answering: a connection that looks
//! open but carries nothing (one made while the broker went down, or a broker that stalls) must
//! fail within seconds, not after the 60 s heartbeat the broker proposes times out twice. So
//! every connection asks for a short heartbeat and a connect timeout (unless the URL sets its
//! own), and every request to the broker is bounded: past its time, it fails as unavailable,
//! and the caller drops the connection and makes a new one.

use super::unavailable;
use crate::bus::BusError;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection};
use std::future::Future;
use std::time::Duration;

/// The heartbeat asked for, in seconds: a silent connection is given up after twice this.
const HEARTBEAT_S: u16 = 10;
/// How long a TCP connect and the AMQP handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the broker may take to answer one request (a declare, a publish's confirm).
pub(super) const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The broker's URL with the heartbeat and connect timeout filled in where it sets none.
pub(super) fn uri_with_liveness(url: &str) -> Result<AMQPUri, BusError> {
    let mut uri: AMQPUri = url
        .parse()
        .map_err(|e| BusError::Unavailable(format!("the RabbitMQ URL cannot be read: {e}")))?;
    uri.query.heartbeat.get_or_insert(HEARTBEAT_S);
    uri.query
        .connection_timeout
        .get_or_insert(CONNECT_TIMEOUT.as_millis() as u64);
    Ok(uri)
}

/// `request` (named `what` in the error), failing as unavailable when the broker has not
/// answered within [`ANSWER_WITHIN`].
pub(super) async fn answered<T>(
    what: &str,
    request: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, BusError> {
    answered_within(what, ANSWER_WITHIN, request).await
}

/// A new channel on `conn`, within the broker's answer time.
pub(super) async fn new_channel(conn: &Connection) -> Result<Channel, BusError> {
    answered("a new channel", conn.create_channel()).await
}

async fn answered_within<T>(
    what: &str,
    within: Duration,
    request: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(within, request).await {
        Ok(answer) => answer.map_err(unavailable),
        Err(_) => Err(BusError::Unavailable(format!(
            "RabbitMQ did not answer {what} within {}s",
            within.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_liveness_settings_gets_ours_and_one_with_them_keeps_its_own() {
        let ours = uri_with_liveness("amqp://guest:guest@127.0.0.1:5672/%2f").expect("parses");
        assert_eq!(ours.query.heartbeat, Some(HEARTBEAT_S));
        assert_eq!(ours.query.connection_timeout, Some(10_000));
        let theirs = uri_with_liveness("amqp://127.0.0.1/%2f?heartbeat=30&connection_timeout=500").expect("parses");
        assert_eq!(theirs.query.heartbeat, Some(30));
        assert_eq!(theirs.query.connection_timeout, Some(500));
        assert!(uri_with_liveness("not a url").is_err());
    }

    #[tokio::test]
    async fn a_request_the_broker_never_answers_fails_as_unavailable() {
        let never = std::future::pending::<Result<(), lapin::Error>>();
        let failed = answered_within("a declare", Duration::from_millis(20), never).await;
        assert!(matches!(failed, Err(BusError::Unavailable(m)) if m.contains("a declare")));
    }
}
