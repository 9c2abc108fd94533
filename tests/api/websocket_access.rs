//! Who may hold a `/ws` socket: a browser handshake must come from this service's own
//! origin (or `realtime.allowed_origins`), and `admin:metrics` stops when the
//! subscriber's session ends or loses the admin role.

use std::time::Duration;

use awc::ws::Frame;
use catalog_cache::auth::{accounts, Role};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};
use crate::websocket::{connect_with, next, send, Socket};
use crate::websocket_recovery::sign_in_cookie;

/// The deadline the issue sets for a lost admin to stop getting snapshots.
const WITHIN: Duration = Duration::from_secs(1);

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

/// An admin socket on `cookie`'s session, subscribed to `admin:metrics` and past its
/// first snapshot.
async fn admin_feed(app: &TestApp, cookie: &str) -> Socket {
    let mut socket = connect_with(app, ("cookie", cookie.to_string())).await;
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["admin:metrics"]}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    assert_eq!(next(&mut socket).await["type"], "admin.metrics");
    socket
}

/// The next text frame as JSON before `deadline`; `None` when none came.
async fn frame_before(socket: &mut Socket, deadline: Instant) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?;
        match frame.expect("the socket is open").expect("a valid frame") {
            Frame::Text(bytes) => return Some(serde_json::from_slice(&bytes).expect("JSON")),
            Frame::Ping(_) | Frame::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Snapshots may still arrive until the `forbidden` frame, which must come within
/// `WITHIN` of `since`; after it, not one more snapshot (watched for longer than the
/// snapshot interval), and the socket itself stays open.
async fn feed_stops(socket: &mut Socket, since: Instant) {
    loop {
        let frame = frame_before(socket, since + WITHIN)
            .await
            .expect("a forbidden frame within a second");
        if frame["type"] == "admin.metrics" {
            continue;
        }
        assert_eq!(frame["type"], "error", "{frame}");
        assert_eq!(frame["code"], "forbidden", "{frame}");
        break;
    }
    let quiet_until = Instant::now() + Duration::from_millis(1500);
    if let Some(frame) = frame_before(socket, quiet_until).await {
        panic!("a frame after the forbidden one: {frame}");
    }
    send(socket, json!({"type": "ping"})).await;
    assert_eq!(next(socket).await["type"], "pong");
}

#[actix_web::test]
async fn logout_stops_the_admin_feed() {
    let app = spawn_app().await;
    let cookie = sign_in_cookie(&app, &app.admin_email).await;
    let mut socket = admin_feed(&app, &cookie).await;

    let logout = reqwest::Client::new()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(logout.status(), 200);
    feed_stops(&mut socket, Instant::now()).await;
    // Asking again is refused: the socket is signed out now.
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["admin:metrics"]}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "error");
}

#[actix_web::test]
async fn logout_all_from_another_session_stops_the_admin_feed() {
    let app = spawn_app().await;
    let cookie = sign_in_cookie(&app, &app.admin_email).await;
    let mut socket = admin_feed(&app, &cookie).await;

    // `app.client` is another session of the same admin.
    let ended = app.post_json("/api/auth/logout-all", &json!({})).await;
    assert_eq!(ended.status(), 200);
    feed_stops(&mut socket, Instant::now()).await;
}

#[actix_web::test]
async fn demotion_stops_the_admin_feed_and_a_token_feed_goes_on() {
    let app = spawn_app().await;
    let cookie = sign_in_cookie(&app, &app.admin_email).await;
    let mut socket = admin_feed(&app, &cookie).await;
    let mut by_token = connect_with(&app, ("authorization", app.bearer())).await;
    send(
        &mut by_token,
        json!({"type": "subscribe", "topics": ["admin:metrics"]}),
    )
    .await;
    assert_eq!(next(&mut by_token).await["type"], "subscribed");

    demote(&app).await;
    feed_stops(&mut socket, Instant::now()).await;
    // The token is no session: nothing to lose.
    for _ in 0..2 {
        assert_eq!(next(&mut by_token).await["type"], "admin.metrics");
    }
}

#[actix_web::test]
async fn a_demoted_admins_socket_no_longer_gets_inactive_products() {
    let app = crate::cache::subscribed(spawn_app().await).await;
    let cookie = sign_in_cookie(&app, &app.admin_email).await;
    // Product events only: no admin:metrics feed, yet an admin's socket all the same.
    let mut socket = connect_with(&app, ("cookie", cookie.clone())).await;
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["products"]}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "subscribed");

    demote(&app).await;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "error" {
            assert_eq!(frame["code"], "forbidden", "{frame}");
            break;
        }
    }

    let hidden = json!({"name": "Secret Lamp", "description": "Not yet", "category": "Home",
                        "price": 19.99, "stock": 5, "isActive": false});
    create_by_token(&app, &hidden).await;
    let shown = json!({"name": "Open Lamp", "description": "Now", "category": "Home",
                       "price": 9.99, "stock": 5, "isActive": true});
    create_by_token(&app, &shown).await;
    // The first product event after the demotion is the visible product's: the hidden
    // one's creation is no longer this socket's to hear.
    let event = loop {
        let frame = next(&mut socket).await;
        if frame["type"] != "admin.metrics" && frame["type"] != "subscribed" {
            break frame;
        }
    };
    assert_eq!(event["type"], "product.created", "{event}");
    assert_eq!(event["product"]["name"], "Open Lamp", "{event}");
}

/// Creates a product with the admin token (the signed-in account is no admin any more).
async fn create_by_token(app: &TestApp, product: &Value) {
    let response = app
        .token_client()
        .post(app.url("/api/products"))
        .json(product)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
}

/// What `catalog-cache set-role --email E --role user` runs, for the app's admin.
async fn demote(app: &TestApp) {
    let pool = catalog_cache::db::pool::build_pool(&app.settings.database).expect("pool");
    let mut conn = catalog_cache::db::pool::connection(&pool)
        .await
        .expect("connection");
    accounts::set_role(&mut conn, &app.admin_email, Role::User)
        .await
        .expect("demoted");
}
