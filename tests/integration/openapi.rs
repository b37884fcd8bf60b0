//! `/openapi.json`: the OpenAPI 3.1 document is served without a token, and every operation it
//! documents is one the router answers (never its "no such route" 404 or a 405). Whether the
//! answers match the document is the contract run's job (tests/contract, run by scripts/test.sh).

use crate::support::{Backend, TestApp};

/// What the router's fallback says for a path no route matches.
const NO_ROUTE: &str = "The resource could not be found:";

#[actix_web::test]
async fn the_document_is_served_and_every_documented_operation_is_routed() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let anonymous = crate::support::Api::new(&app.api.root);
    let (status, document) = anonymous.send("GET", "openapi.json", None).await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["openapi"], "3.1.0");
    assert!(
        document["components"]["schemas"]["Fault"].is_object(),
        "Trove's fault body is documented"
    );
    let project = app.api.base.rsplit('/').next().expect("the tenant's id");
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let streams = operation["responses"]["200"]["content"]["text/event-stream"].is_object();
            if streams {
                continue; // never ends; tests/integration/events.rs reads it
            }
            let concrete = fill_path(path, project);
            let body = (method != "get" && method != "delete").then_some("{}");
            let (status, answer) = app
                .api
                .send(&method.to_uppercase(), concrete.trim_start_matches('/'), body)
                .await;
            let message = answer.to_string();
            assert!(
                status != 405 && !message.contains(NO_ROUTE),
                "{method} {path} ({concrete}) is documented but not routed: {status} {message}"
            );
            assert!(status < 500, "{method} {concrete}: {status} {message}");
            operations += 1;
        }
    }
    assert!(operations >= 80, "only {operations} operations documented");
}

/// The documented path with its parameters filled in: the tenant as itself, anything else a
/// placeholder that names no resource.
fn fill_path(path: &str, project: &str) -> String {
    let mut out = String::new();
    for segment in path.split('/').skip(1) {
        out.push('/');
        match segment {
            "{tenant_id}" => out.push_str(project),
            s if s.starts_with('{') => out.push_str("missing"),
            s => out.push_str(s),
        }
    }
    out
}

#[test]
fn placeholders_fill_every_parameter() {
    assert_eq!(
        fill_path("/v1.0/{tenant_id}/instances/{id}/users/{user}", "p1"),
        "/v1.0/p1/instances/missing/users/missing"
    );
}
