//! Inactive products over WebSocket: a socket that is not an admin's never gets an
//! inactive product's fields, live or replayed, on any topic. A product that stops being
//! visible reaches it as `product.deleted` with `reason` `inactive`; one that becomes
//! visible, as `product.updated` with the product. Admin sockets get every event whole.

use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{spawn_app, TestApp};
use crate::websocket::{connect, connect_with, next, nothing, passed, send, subscribe, Socket};

fn hidden_lamp() -> Value {
    json!({"name": "Secret Lamp", "description": "Not yet", "category": "Home",
           "price": 19.99, "stock": 5, "isActive": false})
}

/// A socket opened with the admin token, as a script or the dashboard's proxy would.
async fn connect_admin(app: &TestApp) -> Socket {
    connect_with(app, ("authorization", app.bearer())).await
}

/// Sets `isActive` and returns the product after the update.
async fn activate(app: &TestApp, id: &Value, active: bool) -> Value {
    let path = format!("/api/products/{id}");
    let response = app.put_json(&path, &json!({"isActive": active})).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.expect("json")["data"].clone()
}

/// A `product.deleted` for reason `inactive` that says nothing of the product itself.
fn assert_hidden(event: &Value, id: &Value, version: i64) {
    assert_eq!(event["type"], "product.deleted", "{event}");
    assert_eq!(event["reason"], "inactive", "{event}");
    assert_eq!(&event["id"], id, "{event}");
    assert_eq!(event["version"], version, "{event}");
    assert!(event["offset"].is_u64(), "{event}");
    assert!(event.get("product").is_none(), "{event}");
    assert!(!event.to_string().contains("Secret"), "{event}");
}

#[actix_web::test]
async fn anonymous_sockets_never_get_an_inactive_products_fields_live() {
    let app = subscribed(spawn_app().await).await;
    let mut everything = connect(&app).await;
    subscribe(&mut everything, json!(["products"])).await;
    let mut category = connect(&app).await;
    subscribe(&mut category, json!(["category:Home"])).await;
    let mut admin = connect_admin(&app).await;
    subscribe(&mut admin, json!(["products", "category:Home"])).await;

    let created = app.create_product(hidden_lamp()).await;
    let id = &created["id"];
    let event = next(&mut admin).await;
    assert_eq!(event["type"], "product.created");
    assert_eq!(
        event["product"], created,
        "admins get the inactive product whole"
    );

    let shown = activate(&app, id, true).await;
    assert_eq!(next(&mut admin).await["product"], shown);
    for socket in [&mut everything, &mut category] {
        // The first thing the public hears of it: the creation was never theirs.
        let event = next(socket).await;
        assert_eq!(event["type"], "product.updated", "{event}");
        assert_eq!(event["product"], shown);
    }

    let hidden = activate(&app, id, false).await;
    assert_eq!(next(&mut admin).await["product"], hidden);
    for socket in [&mut everything, &mut category] {
        assert_hidden(&next(socket).await, id, 3);
        nothing(socket).await;
    }
}

#[actix_web::test]
async fn a_since_replay_hides_inactive_products_from_anonymous_sockets() {
    let mut app = subscribed(spawn_app().await).await;
    let created = app.create_product(hidden_lamp()).await;
    let id = &created["id"];
    let path = format!("/api/products/{id}");
    assert_eq!(
        app.put_json(&path, &json!({"stock": 2})).await.status(),
        200
    );
    let shown = app
        .create_product(json!({"name": "Desk Lamp", "category": "Home", "price": 1}))
        .await;
    passed(&mut app, 3).await;

    for topic in ["products", "category:Home"] {
        let mut socket = connect(&app).await;
        let since = json!({"type": "subscribe", "topics": [topic], "since": 0});
        send(&mut socket, since).await;
        assert_eq!(next(&mut socket).await["type"], "subscribed");
        let event = next(&mut socket).await;
        assert_hidden(&event, id, 2);
        assert_eq!(event["offset"], 2, "the creation at offset 1 is left out");
        let event = next(&mut socket).await;
        assert_eq!(event["type"], "product.created");
        assert_eq!(event["product"], shown);
        nothing(&mut socket).await;
    }

    let mut admin = connect_admin(&app).await;
    let since = json!({"type": "subscribe", "topics": ["products"], "since": 0});
    send(&mut admin, since).await;
    assert_eq!(next(&mut admin).await["type"], "subscribed");
    assert_eq!(next(&mut admin).await["product"], created);
    let updated = next(&mut admin).await;
    assert_eq!(updated["type"], "product.updated");
    assert_eq!(updated["product"]["isActive"], false);
    assert_eq!(next(&mut admin).await["product"], shown);
}
