//! `/console`: the page, its script and its style are served from the binary, each under a
//! policy that allows only this origin's own script, style and API, and never a frame. (The
//! page in a real browser: tests/console, run by scripts/test.sh.)

use crate::support::{Backend, TestApp};

#[actix_web::test]
async fn the_console_is_served_with_a_strict_policy() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let root = &app.api.root;
    for (path, kind, marker) in [
        ("/console", "text/html", r#"<form id="login""#),
        ("/console/console.js", "text/javascript", "X-Auth-Token"),
        ("/console/console.css", "text/css", "[hidden]"),
    ] {
        let mut response = awc::Client::default()
            .get(format!("{root}{path}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            header("content-type").starts_with(kind),
            "{path}: {}",
            header("content-type")
        );
        let policy = header("content-security-policy");
        assert!(
            policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("x-frame-options"), "DENY");
        let body = response.body().await.expect("body");
        assert!(
            String::from_utf8_lossy(&body).contains(marker),
            "{path} serves its content"
        );
    }
    // The token is kept in memory only: the script never touches browser storage.
    let mut script = awc::Client::default()
        .get(format!("{root}/console/console.js"))
        .send()
        .await
        .expect("GET");
    let text = String::from_utf8_lossy(&script.body().await.expect("body")).to_string();
    assert!(!text.contains("localStorage") && !text.contains("sessionStorage") && !text.contains("document.cookie"));
    assert!(!text.contains("innerHTML"), "data is written with textContent only");
}
