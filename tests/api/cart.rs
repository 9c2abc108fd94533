//! The cart: anonymous in the session, the user's in Redis, merged at login.

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp, PASSWORD};

async fn add(app: &TestApp, client: &reqwest::Client, body: Value) -> reqwest::Response {
    client
        .post(app.url("/api/cart/add"))
        .json(&body)
        .send()
        .await
        .expect("sent")
}

async fn cart(app: &TestApp, client: &reqwest::Client) -> Value {
    let response = client.get(app.url("/api/cart")).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

fn lines(cart: &Value) -> Vec<(i64, i64)> {
    cart["cart"]
        .as_array()
        .expect("cart array")
        .iter()
        .map(|l| {
            (
                l["productId"].as_i64().expect("id"),
                l["quantity"].as_i64().expect("qty"),
            )
        })
        .collect()
}

#[actix_web::test]
async fn adding_merges_lines_caps_at_999_and_shows_names_prices_and_total() {
    let app = spawn_app().await;
    app.seed(2).await;
    let client = app.anonymous_client();
    assert_eq!(cart(&app, &client).await["cart"], json!([]));
    assert_eq!(
        add(&app, &client, json!({"productId": 1, "quantity": 2}))
            .await
            .status(),
        200
    );
    assert_eq!(
        add(&app, &client, json!({"productId": 2, "quantity": 1}))
            .await
            .status(),
        200
    );
    let body: Value = add(&app, &client, json!({"productId": 1, "quantity": 998}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(lines(&body), [(1, 999), (2, 1)]);
    let body = cart(&app, &client).await;
    let first = &body["cart"][0];
    assert_eq!(first["name"], "Essential Electronics Item 1");
    assert_eq!(first["unitPrice"], 84.18);
    assert_eq!(first["lineTotal"], 84095.82);
    assert_eq!(first["available"], true);
    let second_total = body["cart"][1]["lineTotal"].as_f64().expect("number");
    let total = body["total"].as_f64().expect("number");
    assert!((total - (84095.82 + second_total)).abs() < 1e-6, "{body}");
}

#[actix_web::test]
async fn bad_quantities_and_products_are_refused() {
    let app = spawn_app().await;
    app.seed(1).await;
    let client = app.anonymous_client();
    for quantity in [json!(0), json!(1000), json!(1.5), json!("2"), json!(-1)] {
        let response = add(&app, &client, json!({"productId": 1, "quantity": quantity})).await;
        let body = assert_error(response, 422, "validation_failed").await;
        assert_eq!(body["error"]["fields"][0]["field"], "quantity");
    }
    let missing = add(&app, &client, json!({"quantity": 1})).await;
    assert_error(missing, 422, "validation_failed").await;
    assert_error(
        add(&app, &client, json!({"productId": 999, "quantity": 1})).await,
        404,
        "not_found",
    )
    .await;
    let hidden = app
        .create_product(json!({"name": "Gone", "category": "X", "price": 1, "isActive": false}))
        .await;
    let inactive = add(
        &app,
        &client,
        json!({"productId": hidden["id"], "quantity": 1}),
    )
    .await;
    // Invisible like on GET /api/products/{id}: a 404, not a refused (schema-valid) body.
    assert_error(inactive, 404, "not_found").await;
    assert_eq!(cart(&app, &client).await["cart"], json!([]));
}

#[actix_web::test]
async fn put_sets_or_removes_and_delete_empties() {
    let app = spawn_app().await;
    app.seed(3).await;
    let client = app.anonymous_client();
    for id in 1..=3 {
        add(&app, &client, json!({"productId": id, "quantity": 1})).await;
    }
    let put = |id: i64, q: Value| {
        client
            .put(app.url(&format!("/api/cart/items/{id}")))
            .json(&json!({"quantity": q}))
            .send()
    };
    let body: Value = put(1, json!(7))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(lines(&body), [(1, 7), (2, 1), (3, 1)]);
    let body: Value = put(2, json!(0))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(lines(&body), [(1, 7), (3, 1)]);
    assert_error(put(2, json!(1)).await.expect("sent"), 404, "not_found").await;
    assert_error(
        put(1, json!(1000)).await.expect("sent"),
        422,
        "validation_failed",
    )
    .await;
    let delete = client
        .delete(app.url("/api/cart/items/3"))
        .send()
        .await
        .expect("sent");
    assert_eq!(lines(&delete.json().await.expect("json")), [(1, 7)]);
    let again = client
        .delete(app.url("/api/cart/items/3"))
        .send()
        .await
        .expect("sent");
    assert_error(again, 404, "not_found").await;
    let cleared = client
        .delete(app.url("/api/cart"))
        .send()
        .await
        .expect("sent");
    assert_eq!(cleared.status(), 200);
    assert_eq!(cart(&app, &client).await["cart"], json!([]));
}

#[actix_web::test]
async fn a_cart_holds_at_most_100_lines() {
    let app = spawn_app().await;
    app.seed(101).await;
    let client = app.anonymous_client();
    for id in 1..=100 {
        let response = add(&app, &client, json!({"productId": id, "quantity": 1})).await;
        assert_eq!(response.status(), 200, "line {id}");
    }
    let full = add(&app, &client, json!({"productId": 101, "quantity": 1})).await;
    assert_error(full, 422, "validation_failed").await;
    // An existing line still grows.
    assert_eq!(
        add(&app, &client, json!({"productId": 100, "quantity": 1}))
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn the_anonymous_cart_merges_into_the_users_at_login_and_survives_logout() {
    let app = spawn_app().await;
    app.seed(2).await;
    let device_one = app
        .register_and_login("shopper@example.com", PASSWORD)
        .await;
    add(&app, &device_one, json!({"productId": 1, "quantity": 3})).await;

    let device_two = app.anonymous_client();
    add(&app, &device_two, json!({"productId": 1, "quantity": 5})).await;
    add(&app, &device_two, json!({"productId": 2, "quantity": 1})).await;
    assert!(
        app.try_login(&device_two, "shopper@example.com", PASSWORD)
            .await
    );
    assert_eq!(lines(&cart(&app, &device_two).await), [(1, 8), (2, 1)]);
    // The same cart on the other device.
    assert_eq!(lines(&cart(&app, &device_one).await), [(1, 8), (2, 1)]);
    assert!(!app.redis_keys("cart:user:*").await.is_empty());

    let logout = device_two
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .expect("sent");
    assert_eq!(logout.status(), 200);
    assert_eq!(cart(&app, &device_two).await["cart"], json!([]));
    assert!(
        app.try_login(&device_two, "shopper@example.com", PASSWORD)
            .await
    );
    assert_eq!(lines(&cart(&app, &device_two).await), [(1, 8), (2, 1)]);
}

#[actix_web::test]
async fn the_cart_reads_products_through_the_cache() {
    let app = spawn_app().await;
    app.seed(3).await;
    let shopper = app.anonymous_client();
    assert_eq!(
        add(&app, &shopper, json!({"productId": 2, "quantity": 1}))
            .await
            .status(),
        200
    );
    let metrics = || async {
        let m: Value = app
            .token_client()
            .get(app.url("/admin/metrics/cache"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let hits = m["cache"]["l1"]["hits"].as_u64().expect("l1 hits")
            + m["cache"]["l2"]["hits"].as_u64().expect("l2 hits");
        (hits, m["cache"]["dbQueries"].as_u64().expect("dbQueries"))
    };
    let (hits_before, queries_before) = metrics().await;
    for _ in 0..3 {
        assert_eq!(cart(&app, &shopper).await["cart"][0]["productId"], 2);
    }
    let (hits_after, queries_after) = metrics().await;
    assert!(
        hits_after >= hits_before + 3,
        "{hits_before} -> {hits_after}"
    );
    assert_eq!(
        queries_after, queries_before,
        "no database query for the cart view"
    );
}
