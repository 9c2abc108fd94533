//! Cross-site request forgery: an unsafe request authenticated by the session cookie
//! must show it comes from the service's own pages (`Origin`, else `Referer`) or carry
//! the session's `X-CSRF-Token`; bearer-token requests are unaffected.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

const EVIL: &str = "https://evil.example";

/// The admin writes the issue names, each with a body an admin gets answered: the
/// invalidation 200, the job routes 404 (no such job), never 403.
fn admin_writes() -> Vec<(Method, &'static str, Option<Value>, u16)> {
    vec![
        (
            Method::POST,
            "/admin/cache/invalidate",
            Some(json!({"key": "products:1"})),
            200,
        ),
        (
            Method::POST,
            "/admin/queues/email/jobs/missing/retry",
            None,
            404,
        ),
        (
            Method::DELETE,
            "/admin/queues/email/jobs/missing",
            None,
            404,
        ),
    ]
}

/// `app.client` (the admin's session cookie) sending one admin write with `headers`.
async fn write_with(
    app: &TestApp,
    client: &reqwest::Client,
    (method, path, body, _): &(Method, &'static str, Option<Value>, u16),
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client.request(method.clone(), app.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent")
}

async fn csrf_token(app: &TestApp, client: &reqwest::Client) -> String {
    let response = client
        .get(app.url("/api/auth/csrf"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["success"], true, "{body}");
    body["data"]["token"].as_str().expect("a token").to_string()
}

#[actix_web::test]
async fn a_cookie_request_from_another_origin_is_refused_with_csrf_failed() {
    let app = spawn_app().await;
    let evil_page = format!("{EVIL}/page");
    for write in admin_writes() {
        for headers in [
            vec![("origin", EVIL)],
            vec![("origin", "null")],
            vec![("referer", evil_page.as_str())],
            // A page of ours cannot vouch for a request another origin sent.
            vec![("origin", EVIL), ("referer", app.address.as_str())],
        ] {
            let refused = write_with(&app, &app.client, &write, &headers).await;
            assert_error(refused, 403, "csrf_failed").await;
        }
    }
    // Not only /admin: logout and the cart are cookie-authenticated writes too.
    let logout = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("sent");
    assert_error(logout, 403, "csrf_failed").await;
    let add = app
        .client
        .post(app.url("/api/cart/add"))
        .header("origin", EVIL)
        .json(&json!({"productId": 1, "quantity": 1}))
        .send()
        .await
        .expect("sent");
    assert_error(add, 403, "csrf_failed").await;
    // Nothing happened: still signed in.
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
}

#[actix_web::test]
async fn our_own_origin_or_referer_passes() {
    let app = spawn_app().await;
    let own_page = format!("{}/admin", app.address);
    for write in admin_writes() {
        let expected = write.3;
        for headers in [
            vec![("origin", app.address.as_str())],
            vec![("referer", own_page.as_str())],
        ] {
            let answered = write_with(&app, &app.client, &write, &headers).await;
            assert_eq!(
                answered.status().as_u16(),
                expected,
                "{} {headers:?}",
                write.1
            );
        }
    }
}

#[actix_web::test]
async fn the_sessions_csrf_token_passes_and_a_wrong_one_is_refused() {
    let app = spawn_app().await;
    let token = csrf_token(&app, &app.client).await;
    assert!(token.len() >= 32, "{token}");
    assert_eq!(
        csrf_token(&app, &app.client).await,
        token,
        "one per session"
    );
    for write in admin_writes() {
        let expected = write.3;
        // The token proves the page could read this origin's answers: any Origin passes.
        let answered = write_with(&app, &app.client, &write, &[("x-csrf-token", &token)]).await;
        assert_eq!(answered.status().as_u16(), expected, "{}", write.1);
        let answered = write_with(
            &app,
            &app.client,
            &write,
            &[("origin", EVIL), ("x-csrf-token", &token)],
        )
        .await;
        assert_eq!(answered.status().as_u16(), expected, "{}", write.1);
        // A token presented decides, right or wrong, whatever the Origin says.
        let refused = write_with(
            &app,
            &app.client,
            &write,
            &[("origin", app.address.as_str()), ("x-csrf-token", "not-it")],
        )
        .await;
        assert_error(refused, 403, "csrf_failed").await;
    }
    // Another session's token is not this one's.
    let other = app.anonymous_client();
    assert!(
        app.try_login(&other, &app.admin_email, crate::helpers::PASSWORD)
            .await
    );
    let theirs = csrf_token(&app, &other).await;
    assert_ne!(theirs, token);
    let refused = write_with(
        &app,
        &app.client,
        &admin_writes()[0],
        &[("x-csrf-token", &theirs)],
    )
    .await;
    assert_error(refused, 403, "csrf_failed").await;
}

#[actix_web::test]
async fn signing_in_gives_the_session_a_new_token() {
    let app = spawn_app().await;
    let client = app.anonymous_client();
    let before = csrf_token(&app, &client).await;
    assert!(
        app.try_login(&client, &app.admin_email, crate::helpers::PASSWORD)
            .await
    );
    let after = csrf_token(&app, &client).await;
    assert_ne!(before, after);
    let refused = write_with(
        &app,
        &client,
        &admin_writes()[0],
        &[("x-csrf-token", &before)],
    )
    .await;
    assert_error(refused, 403, "csrf_failed").await;
}

#[actix_web::test]
async fn bearer_token_requests_are_unaffected() {
    let app = spawn_app().await;
    for write in admin_writes() {
        let expected = write.3;
        let answered = write_with(&app, &app.token_client(), &write, &[("origin", EVIL)]).await;
        assert_eq!(answered.status().as_u16(), expected, "{}", write.1);
    }
    // A bearer token beside the cookie: a page cannot add that header cross-origin.
    let bearer = app.bearer();
    let answered = write_with(
        &app,
        &app.client,
        &admin_writes()[0],
        &[("origin", EVIL), ("authorization", &bearer)],
    )
    .await;
    assert_eq!(answered.status(), 200);
}

#[actix_web::test]
async fn a_cookie_client_that_is_no_browser_sends_neither_header_and_passes() {
    // Browsers send Origin on every unsafe request (the Fetch standard); a request with
    // neither header is a script with a cookie jar, which no page can drive.
    let app = spawn_app().await;
    for write in admin_writes() {
        let expected = write.3;
        let answered = write_with(&app, &app.client, &write, &[]).await;
        assert_eq!(answered.status().as_u16(), expected, "{}", write.1);
    }
    // Safe methods are never checked.
    let read = app
        .client
        .get(app.url("/admin/metrics/cache"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("sent");
    assert_eq!(read.status(), 200);
}
