//! The `admin:metrics` topic: who may subscribe, and the snapshot it pushes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};
use crate::websocket::{connect, connect_with, next, send, Socket};
use crate::websocket_recovery::sign_in_cookie;

async fn ask_for_metrics(socket: &mut Socket) -> Value {
    send(
        socket,
        json!({"type": "subscribe", "topics": ["admin:metrics"]}),
    )
    .await;
    next(socket).await
}

#[actix_web::test]
async fn only_admins_may_subscribe_and_others_keep_their_socket() {
    let app = spawn_app().await;
    let mut anonymous = connect(&app).await;
    let refused = ask_for_metrics(&mut anonymous).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "unauthorized", "{refused}");
    // Still open and served: the refusal is not a bad frame.
    send(&mut anonymous, json!({"type": "ping"})).await;
    assert_eq!(next(&mut anonymous).await["type"], "pong");

    app.register_and_login("reader@example.com", PASSWORD).await;
    let user_cookie = sign_in_cookie(&app, "reader@example.com").await;
    let mut user = connect_with(&app, ("cookie", user_cookie)).await;
    let refused = ask_for_metrics(&mut user).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    // A product topic in the same request does not slip through either.
    send(
        &mut user,
        json!({"type": "subscribe", "topics": ["products", "admin:metrics"]}),
    )
    .await;
    assert_eq!(next(&mut user).await["code"], "forbidden");
}

#[actix_web::test]
async fn an_admin_gets_this_instances_snapshot_every_second() {
    let app = spawn_app().await;
    app.seed(1).await;
    let cookie = sign_in_cookie(&app, &app.admin_email).await;
    let mut admin = connect_with(&app, ("cookie", cookie)).await;
    let answer = ask_for_metrics(&mut admin).await;
    assert_eq!(
        answer,
        json!({"type": "subscribed", "topics": ["admin:metrics"]})
    );

    assert_eq!(app.get("/api/products/1").await.status(), 200);
    let mut snapshots = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while snapshots.len() < 2 && tokio::time::Instant::now() < deadline {
        let frame = next(&mut admin).await;
        assert_eq!(frame["type"], "admin.metrics", "{frame}");
        snapshots.push(frame["snapshot"].clone());
    }
    assert_eq!(snapshots.len(), 2, "two snapshots, a second apart");
    let last = &snapshots[1];
    // The document of GET /admin/metrics/cache, with the traffic in it.
    assert_eq!(last["instance"]["id"], snapshots[0]["instance"]["id"]);
    assert!(last["cache"]["l1"]["misses"].as_u64() >= Some(1), "{last}");
    assert!(last["http"]["requests"].as_u64() >= Some(1), "{last}");
    assert_eq!(last["websocket"]["connections"], 1, "{last}");

    // The admin token works at the handshake too (scripts, a proxy in front).
    let mut by_token = connect_with(&app, ("authorization", app.bearer())).await;
    assert_eq!(ask_for_metrics(&mut by_token).await["type"], "subscribed");
    assert_eq!(next(&mut by_token).await["type"], "admin.metrics");
}
