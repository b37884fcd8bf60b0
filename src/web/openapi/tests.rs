//! The document against the router: every routed path and method is documented, and the
//! document is what OpenAPI 3.1 asks for.

use super::ApiDoc;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::OpenApi as _;

/// The route tables' sources, each with the prefixes of the scopes its relative paths are in.
const ROUTE_TABLES: [(&str, &str, &[&str]); 3] = [
    (
        "src/web.rs",
        include_str!("../../web.rs"),
        &["", "/compute/v2.1", "/v1.0/{}"],
    ),
    (
        "src/web/mgmt_routes.rs",
        include_str!("../mgmt_routes.rs"),
        &["/v1.0/{}/mgmt"],
    ),
    ("src/web/keystone.rs", include_str!("../keystone.rs"), &[""]),
];

/// A path as routed and documented alike: no trailing slash, its parameters unnamed.
fn normal(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.trim_end_matches('/').chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// `(relative path, methods)` of every `endpoint(...)...done()` chain in `source`; `instance(x)`
/// is `/instances/{id}x` as in `tenant_routes`.
fn routed(source: &str) -> Vec<(String, BTreeSet<&'static str>)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("endpoint(") {
        let chain = &rest[start + "endpoint(".len()..];
        let Some(end) = chain.find(".done()") else { break };
        let chain = &chain[..end];
        let path = if let Some(arg) = chain.strip_prefix("&instance(\"") {
            format!("/instances/{{id}}{}", &arg[..arg.find('"').unwrap_or(0)])
        } else if let Some(arg) = chain.strip_prefix('"') {
            arg[..arg.find('"').unwrap_or(0)].to_string()
        } else {
            rest = &rest[start + 1..];
            continue;
        };
        let methods = [
            ("get", "get"),
            ("post", "post"),
            ("put", "put"),
            ("patch", "patch"),
            ("delete", "delete"),
        ]
        .into_iter()
        .filter(|(m, _)| chain.contains(&format!(".{m}(")))
        .map(|(_, m)| m)
        .collect();
        found.push((path, methods));
        rest = &rest[start + 1..];
    }
    found
}

/// `path -> methods` of the document.
fn documented() -> BTreeMap<String, BTreeSet<&'static str>> {
    let value = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let mut paths = BTreeMap::new();
    for (path, item) in value["paths"].as_object().expect("paths") {
        let methods = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .collect();
        paths.insert(path.clone(), methods);
    }
    paths
}

#[test]
fn every_routed_path_is_documented() {
    let mut documented_paths: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (path, methods) in documented() {
        documented_paths.entry(normal(&path)).or_default().extend(methods);
    }
    let documented = documented_paths;
    let mut missing = Vec::new();
    for (file, source, prefixes) in ROUTE_TABLES {
        for (relative, methods) in routed(source) {
            // Exactly one of the file's scopes, followed by the routed path.
            let found = prefixes.iter().any(|prefix| {
                documented
                    .get(&normal(&format!("{prefix}{relative}")))
                    .is_some_and(|documented_methods| methods.is_subset(documented_methods))
            });
            if !found {
                missing.push(format!("{file}: {relative} {methods:?}"));
            }
        }
    }
    assert!(missing.is_empty(), "routed but not documented:\n{}", missing.join("\n"));
}

/// The operations Trove has that coffer always refuses (documented with that refusal only).
const ALWAYS_REFUSED: [&str; 1] = ["create_backup_strategy"];

#[test]
fn the_document_is_openapi_3_1_with_unique_operation_ids() {
    let value = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    assert!(value["openapi"].as_str().unwrap_or_default().starts_with("3.1"));
    let mut ids = BTreeSet::new();
    for item in value["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            let id = operation["operationId"].as_str().expect("operationId").to_string();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
            assert!(
                ALWAYS_REFUSED.contains(&id.as_str())
                    || operation["responses"]
                        .as_object()
                        .expect("responses")
                        .keys()
                        .any(|k| k.starts_with('2')),
                "{id} documents no success"
            );
        }
    }
}

#[test]
#[ignore = "prints the document"]
fn print_document() {
    println!("{}", super::rendered().expect("the document serializes"));
}
