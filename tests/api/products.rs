use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

fn lamp() -> Value {
    json!({"name": "Desk Lamp", "description": "Bright", "category": "Home", "price": 19.99, "stock": 5})
}

#[actix_web::test]
async fn get_returns_the_product_with_every_field() {
    let app = spawn_app().await;
    app.seed(3).await;
    let response = app.get("/api/products/1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    let p = &body["data"];
    assert_eq!(p["id"], 1);
    assert_eq!(p["name"], "Essential Electronics Item 1");
    assert_eq!(p["category"], "Electronics");
    assert_eq!(p["price"], 84.18);
    assert_eq!(p["stock"], 37);
    assert_eq!(p["isActive"], true);
    assert_eq!(p["version"], 1);
    assert_eq!(p["createdAt"], "2024-01-01T00:01:00Z");
    assert!(p["updatedAt"].is_string());
    assert!(p["description"].is_string());
}

#[actix_web::test]
async fn missing_and_inactive_products_are_404_except_inactive_ones_for_admins() {
    let app = spawn_app().await;
    let anonymous = app.anonymous_client();
    let get = |path: String| {
        let client = anonymous.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.expect("sent") }
    };
    assert_error(get("/api/products/999".into()).await, 404, "not_found").await;
    let mut body = lamp();
    body["isActive"] = json!(false);
    let hidden = app.create_product(body).await;
    let path = format!("/api/products/{}", hidden["id"]);
    let err = assert_error(get(path.clone()).await, 404, "not_found").await;
    assert_eq!(err["error"]["message"], "Product not found");

    // The admin (app.client) reads it, uncached, and it stays hidden from others.
    let response = app.get(&path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["isActive"], false);
    assert_error(get(path).await, 404, "not_found").await;
    assert_error(app.get("/api/products/999").await, 404, "not_found").await;
}

#[actix_web::test]
async fn list_pages_filters_and_counts() {
    let app = spawn_app().await;
    app.seed(45).await;
    let response = app.get("/api/products").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["total"], 45);
    assert_eq!(body["count"], 45);
    assert_eq!(body["page"], 1);
    assert_eq!(body["limit"], 50);
    let ids: Vec<i64> = body["data"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");

    let body: Value = app
        .get("/api/products?page=2&limit=20")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["count"], 20);
    assert_eq!(body["total"], 45);
    assert_eq!(body["data"][0]["id"], 21);

    // Categories cycle through 20 names: ids 2, 22 and 42 are Books.
    let body: Value = app
        .get("/api/products?category=Books")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["total"], 3);
    assert!(body["data"]
        .as_array()
        .expect("array")
        .iter()
        .all(|p| p["category"] == "Books"));

    let body: Value = app
        .get("/api/products?minPrice=100&maxPrice=500.50&_=123")
        .await
        .json()
        .await
        .expect("json");
    let data = body["data"].as_array().expect("array");
    assert!(!data.is_empty());
    assert!(data.iter().all(|p| {
        let price = p["price"].as_f64().expect("price");
        (100.0..=500.5).contains(&price)
    }));
    assert_eq!(body["total"].as_u64(), Some(data.len() as u64));
}

#[actix_web::test]
async fn list_leaves_out_inactive_products() {
    let app = spawn_app().await;
    app.create_product(lamp()).await;
    let mut hidden = lamp();
    hidden["isActive"] = json!(false);
    app.create_product(hidden).await;
    let body: Value = app.get("/api/products").await.json().await.expect("json");
    assert_eq!(body["total"], 1);
}

#[actix_web::test]
async fn create_returns_201_with_location() {
    let app = spawn_app().await;
    let response = app.post_json("/api/products", &lamp()).await;
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("location");
    let body: Value = response.json().await.expect("json");
    let p = &body["data"];
    assert_eq!(location, format!("/api/products/{}", p["id"]));
    assert_eq!(p["name"], "Desk Lamp");
    assert_eq!(p["price"], 19.99);
    assert_eq!(p["stock"], 5);
    assert_eq!(p["isActive"], true);
    assert_eq!(p["version"], 1);
    let fetched: Value = app.get(&location).await.json().await.expect("json");
    assert_eq!(&fetched["data"], p);
}

#[actix_web::test]
async fn ids_continue_after_seeded_products() {
    let app = spawn_app().await;
    app.seed(10).await;
    app.seed(10).await; // idempotent: still 10
    let created = app.create_product(lamp()).await;
    assert_eq!(created["id"], 11);
    let body: Value = app.get("/api/products").await.json().await.expect("json");
    assert_eq!(body["total"], 11);
}

#[actix_web::test]
async fn update_changes_only_the_given_fields_and_bumps_the_version() {
    let app = spawn_app().await;
    let created = app.create_product(lamp()).await;
    let path = format!("/api/products/{}", created["id"]);
    let response = app.put_json(&path, &json!({"price": 24.5})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let p = &body["data"];
    assert_eq!(p["price"], 24.5);
    assert_eq!(p["name"], "Desk Lamp");
    assert_eq!(p["stock"], 5);
    assert_eq!(p["version"], 2);
    assert_ne!(p["updatedAt"], created["updatedAt"]);

    // PATCH is an alias.
    let response = app
        .client
        .patch(app.url(&path))
        .json(&json!({"stock": 0, "category": "Office"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["stock"], 0);
    assert_eq!(body["data"]["category"], "Office");
    assert_eq!(body["data"]["price"], 24.5);
    assert_eq!(body["data"]["version"], 3);
}

#[actix_web::test]
async fn update_and_delete_of_a_missing_product_are_404() {
    let app = spawn_app().await;
    assert_error(
        app.put_json("/api/products/4242", &json!({"stock": 1}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.delete("/api/products/4242").await, 404, "not_found").await;
}

#[actix_web::test]
async fn delete_removes_the_product() {
    let app = spawn_app().await;
    let created = app.create_product(lamp()).await;
    let path = format!("/api/products/{}", created["id"]);
    let response = app.delete(&path).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"success": true, "message": "Product deleted successfully"})
    );
    assert_error(app.get(&path).await, 404, "not_found").await;
}
