//! Who may hold a `/ws` socket: a browser handshake must come from this service's own
//! origin (or `realtime.allowed_origins`), and `admin:metrics` stops when the
//! subscriber's session ends or loses the admin role.

use crate::helpers::{assert_error, spawn_app_with, TestApp};

/// A WebSocket handshake sent as plain HTTP with these extra headers: the status (and a
/// refusal's JSON body) without a WebSocket client.
async fn handshake(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .anonymous_client()
        .get(app.url("/ws"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent")
}

#[actix_web::test]
async fn a_browser_handshake_from_another_origin_is_refused_with_403_json() {
    let app = spawn_app_with(|s| {
        s.realtime.allowed_origins = vec!["https://shop.example".into()];
    })
    .await;
    let own = app.address.clone();
    let port = app.address.rsplit(':').next().expect("a port").to_string();

    // No Origin: not a browser, allowed as before.
    assert_eq!(handshake(&app, &[]).await.status(), 101);
    assert_eq!(handshake(&app, &[("origin", &own)]).await.status(), 101);
    // The same origin spelled with another case is the same origin.
    let shouted = own.replace("http://", "HTTP://");
    assert_eq!(handshake(&app, &[("origin", &shouted)]).await.status(), 101);
    assert_eq!(
        handshake(&app, &[("origin", "https://shop.example")])
            .await
            .status(),
        101
    );

    let other_port = format!("http://127.0.0.1:{}", port.parse::<u32>().unwrap() + 1);
    let localhost = format!("http://localhost:{port}");
    let https = own.replace("http://", "https://");
    for origin in [
        "https://evil.example",
        "null",
        "http://shop.example",
        other_port.as_str(),
        localhost.as_str(),
        https.as_str(),
        "not a url",
    ] {
        let refused = handshake(&app, &[("origin", origin)]).await;
        let body = assert_error(refused, 403, "forbidden").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("origin")),
            "{origin}: {body}"
        );
    }
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_origin_is_the_one_it_forwarded_for() {
    let app = spawn_app_with(|s| s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let proxied = [
        ("x-forwarded-host", "shop.example"),
        ("x-forwarded-proto", "https"),
    ];
    let with = |origin: &'static str| {
        let mut headers = proxied.to_vec();
        headers.push(("origin", origin));
        headers
    };
    assert_eq!(
        handshake(&app, &with("https://shop.example"))
            .await
            .status(),
        101
    );
    assert_error(
        handshake(&app, &with("http://shop.example")).await,
        403,
        "forbidden",
    )
    .await;

    // From an untrusted peer the same headers prove nothing.
    let direct = spawn_app_with(|_| {}).await;
    assert_error(
        handshake(&direct, &with("https://shop.example")).await,
        403,
        "forbidden",
    )
    .await;
}
