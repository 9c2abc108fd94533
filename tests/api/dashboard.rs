//! `GET /admin` (the dashboard), `GET /admin/login` and `GET /static/{path}`: who gets
//! the page, and the embedded files. The page in a browser: scripts/e2e.sh.

use crate::helpers::{assert_error, new_client, spawn_app, PASSWORD};

const HTML: &str = "text/html, application/xhtml+xml";

#[actix_web::test]
async fn an_admin_gets_the_page_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    app.create_admin("boss@example.com").await;
    let admin = new_client();
    assert!(app.try_login(&admin, "boss@example.com", PASSWORD).await);

    let page = admin.get(app.url("/admin")).send().await.expect("sent");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let body = page.text().await.expect("body");
    assert!(body.contains("/static/admin/dashboard.js"), "{body}");

    // The bearer token is an admin too (a script or a proxy in front of the page).
    let by_token = app
        .token_client()
        .get(app.url("/admin"))
        .send()
        .await
        .expect("sent");
    assert_eq!(by_token.status(), 200);
}

#[actix_web::test]
async fn a_browser_without_a_session_is_sent_to_the_sign_in_page() {
    let app = spawn_app().await;
    let browser = new_client();
    let answer = browser
        .get(app.url("/admin"))
        .header("Accept", HTML)
        .send()
        .await
        .expect("sent");
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/admin/login");

    let login = browser
        .get(app.url("/admin/login"))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);
    let body = login.text().await.expect("body");
    assert!(body.contains("id=\"login\""), "{body}");
}

#[actix_web::test]
async fn other_clients_get_the_json_errors_of_every_admin_route() {
    let app = spawn_app().await;
    let anonymous = new_client()
        .get(app.url("/admin"))
        .send()
        .await
        .expect("sent");
    assert_error(anonymous, 401, "unauthorized").await;

    let user = app
        .register_and_login("shopper@example.com", PASSWORD)
        .await;
    // A signed-in user is refused, even from a browser: a sign-in page would not help.
    let refused = user
        .get(app.url("/admin"))
        .header("Accept", HTML)
        .send()
        .await
        .expect("sent");
    assert_error(refused, 403, "forbidden").await;

    let post = app.post_json("/admin", &serde_json::json!({})).await;
    assert_error(post, 405, "method_not_allowed").await;
}

#[actix_web::test]
async fn the_embedded_files_are_served_with_their_types_and_unknown_ones_are_404() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/static/admin/dashboard.js", "text/javascript"),
        ("/static/admin/login.js", "text/javascript"),
        ("/static/admin/dashboard.css", "text/css"),
        (
            "/static/vendor/uplot-1.6.32/uPlot.iife.min.js",
            "text/javascript",
        ),
        ("/static/vendor/uplot-1.6.32/LICENSE", "text/plain"),
    ] {
        let answer = app.get(path).await;
        assert_eq!(answer.status(), 200, "{path}");
        let content_type = answer.headers()["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
        assert!(!answer.bytes().await.expect("body").is_empty(), "{path}");
    }
    for path in ["/static/nope.js", "/static/../Cargo.toml", "/static/admin/"] {
        assert_error(app.get(path).await, 404, "not_found").await;
    }
}
