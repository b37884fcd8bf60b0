//! The validation table: for every datastore's catalog, an unknown parameter, a wrong type, a
//! value below its minimum or above its maximum, and a parameter coffer keeps answer Trove's
//! fault body naming the parameter, and nothing is stored.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use serde_json::{json, Value};

/// For each datastore: unknown, wrong type, below min, above max, forbidden → Trove's fault
/// body naming the parameter, and nothing stored.
async fn bad_values_get_trove_faults_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let (_, datastores) = api.get("/datastores").await;
    let known: Vec<String> = datastores["datastores"]
        .as_array()
        .expect("datastores")
        .iter()
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect();
    let cases: [(&str, Value, Value); 4] = [
        (
            "simulated",
            json!({"statement_timeout": -1, "work_mem": 1, "max_connections": 6000}),
            json!({"data_directory": "/", "port": 1}),
        ),
        (
            "postgresql",
            json!({"statement_timeout": -1, "work_mem": 1, "max_connections": 6000}),
            json!({"data_directory": "/", "port": 1}),
        ),
        (
            "mariadb",
            json!({"max_connections": 1, "long_query_time": -1.0, "innodb_buffer_pool_size": 1}),
            json!({"datadir": "/", "port": 1}),
        ),
        (
            "redis",
            json!({"maxmemory": 1, "databases": 1000, "hz": 0}),
            json!({"dir": "/", "port": 1}),
        ),
    ];
    for (datastore, ranges, forbidden) in cases {
        assert!(
            known.iter().any(|k| k == datastore),
            "{datastore} is in the catalog: {known:?}"
        );
        let ds = json!({"type": datastore});
        let numeric = ranges
            .as_object()
            .expect("ranges")
            .keys()
            .next()
            .expect("a key")
            .clone();
        let mut bad: Vec<(Value, &str)> = vec![
            (json!({"no_such_parameter": 1}), "no_such_parameter is not supported"),
            (json!({numeric.clone(): "lots"}), "not of type"),
            (json!({numeric.clone(): true}), "not of type"),
        ];
        for (key, value) in ranges.as_object().expect("ranges") {
            bad.push((json!({key: value}), "allowed"));
        }
        for key in forbidden.as_object().expect("forbidden").keys() {
            bad.push((json!({key: forbidden[key]}), "is not supported"));
        }
        for (values, needle) in bad {
            let body = json!({"configuration": {"name": "bad", "datastore": ds, "values": values}});
            let (status, answer) = api.send("POST", "/configurations", Some(&body.to_string())).await;
            assert_eq!(status, 422, "{datastore} {values}: {answer}");
            let message = answer["unprocessableEntity"]["message"].as_str().unwrap_or_default();
            let key = values
                .as_object()
                .and_then(|v| v.keys().next().cloned())
                .unwrap_or_default();
            assert!(
                message.contains(&key) && message.contains(needle),
                "{datastore} {values}: {answer}"
            );
            assert_eq!(answer["unprocessableEntity"]["code"], 422, "{answer}");
        }
        let (_, list) = api.get("/configurations").await;
        assert_eq!(list["configurations"], json!([]), "{datastore}: nothing stored");
    }
}
both_backends!(bad_values_get_trove_faults_and_change_nothing);
