//! Every malformed request gets the JSON error shape and the right status.

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn bad_query_values_are_400() {
    let app = spawn_app().await;
    for query in [
        "minPrice=abc",
        "maxPrice=-5",
        "minPrice=1.234",
        "page=0",
        "page=two",
        "limit=0",
        "limit=201",
    ] {
        let response = app.get(&format!("/api/products?{query}")).await;
        assert_error(response, 400, "bad_request").await;
    }
}

#[actix_web::test]
async fn non_numeric_ids_are_400() {
    let app = spawn_app().await;
    for path in [
        "/api/products/abc",
        "/api/products/1.5",
        "/api/products/99999999999999999999",
    ] {
        assert_error(app.get(path).await, 400, "bad_request").await;
    }
    assert_error(
        app.put_json("/api/products/x", &json!({"stock": 1})).await,
        400,
        "bad_request",
    )
    .await;
}

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/products"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("sent");
    assert_error(response, 400, "bad_request").await;
}

#[actix_web::test]
async fn invalid_fields_are_422_naming_each_one() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/products",
            &json!({"name": "", "category": "x".repeat(101), "price": -1, "stock": -3, "colour": "red"}),
        )
        .await;
    let body = assert_error(response, 422, "validation_failed").await;
    let mut fields: Vec<String> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("name").to_string())
        .collect();
    fields.sort();
    assert_eq!(fields, ["category", "colour", "name", "price", "stock"]);

    let too_long =
        json!({"name": "n", "category": "c", "price": 1, "description": "d".repeat(10_001)});
    let body = assert_error(
        app.post_json("/api/products", &too_long).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "description");

    let missing = json!({"name": "n"});
    let body = assert_error(
        app.post_json("/api/products", &missing).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["error"]["fields"].as_array().map(Vec::len), Some(2));

    let created = app
        .create_product(json!({"name": "n", "category": "c", "price": 1}))
        .await;
    let path = format!("/api/products/{}", created["id"]);
    assert_error(
        app.put_json(&path, &json!({})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.put_json(&path, &json!({"price": "cheap"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.put_json(&path, &json!({"sku": 1})).await,
        422,
        "validation_failed",
    )
    .await;
}

#[actix_web::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let body =
        json!({"name": "n", "category": "c", "price": 1, "description": "d".repeat(70 * 1024)});
    assert_error(
        app.post_json("/api/products", &body).await,
        413,
        "payload_too_large",
    )
    .await;
}

#[actix_web::test]
async fn non_json_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/products"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_error(response, 415, "unsupported_media_type").await;
}

#[actix_web::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/api/products"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    assert_error(response, 405, "method_not_allowed").await;
    let response = app.post_json("/api/products/1", &json!({})).await;
    assert_error(response, 405, "method_not_allowed").await;
}

#[actix_web::test]
async fn unknown_routes_are_404_json() {
    let app = spawn_app().await;
    let body: Value = assert_error(app.get("/api/nothing").await, 404, "not_found").await;
    assert_eq!(body["error"]["message"], "Route not found");
}

#[actix_web::test]
async fn control_characters_in_query_values_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    for query in [
        "category=%00",
        "category=Books%1F",
        "category=%C2%85",
        "category=%7F",
    ] {
        let response = app.get(&format!("/api/products?{query}")).await;
        let body = assert_error(response, 400, "bad_request").await;
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(message.contains("category"), "{query}: {body}");
    }
}

#[actix_web::test]
async fn control_characters_in_body_text_are_422_naming_each_field() {
    let app = spawn_app().await;
    let body =
        json!({"name": "Lamp\u{0}", "category": "\u{7}Home", "price": 1, "description": "a\u{0}b"});
    let body = assert_error(
        app.post_json("/api/products", &body).await,
        422,
        "validation_failed",
    )
    .await;
    let mut fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    fields.sort();
    assert_eq!(fields, ["category", "description", "name"]);

    // A description keeps its layout: tabs and line breaks are not refused.
    let created = app
        .create_product(
            json!({"name": "Lamp", "category": "Home", "price": 1, "description": "one\r\n\ttwo"}),
        )
        .await;
    assert_eq!(created["description"], "one\r\n\ttwo");
    let path = format!("/api/products/{}", created["id"]);
    let body = assert_error(
        app.put_json(&path, &json!({"name": "\u{0}"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "name");
}

#[actix_web::test]
async fn control_characters_in_credentials_are_422_naming_the_field() {
    let app = spawn_app().await;
    for path in ["/api/auth/register", "/api/auth/login"] {
        let response = app
            .anonymous_client()
            .post(app.url(path))
            .json(&json!({"email": "nul\u{0}@example.com", "password": "correct horse battery"}))
            .send()
            .await
            .expect("sent");
        let body = assert_error(response, 422, "validation_failed").await;
        assert_eq!(body["error"]["fields"][0]["field"], "email", "{path}");
    }
    let response = app
        .anonymous_client()
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": "ok@example.com", "password": "correct horse\u{1b}battery"}))
        .send()
        .await
        .expect("sent");
    let body = assert_error(response, 422, "validation_failed").await;
    assert_eq!(body["error"]["fields"][0]["field"], "password");
}

#[actix_web::test]
async fn what_the_openapi_document_allows_is_accepted() {
    // JSON Schema calls 3.0 an integer (in a body or a path) and the document says
    // minPrice <= maxPrice nowhere, so none of these is refused.
    let app = spawn_app().await;
    let created = app
        .create_product(
            json!({"name": "Lamp", "category": "Home", "price": 0.5700000000000001, "stock": 3.0}),
        )
        .await;
    assert_eq!(created["stock"], 3);
    assert_eq!(created["price"], 0.57);
    let read = app.get(&format!("/api/products/{}.0", created["id"])).await;
    assert_eq!(
        read.status(),
        200,
        "an integer id written as {}.0",
        created["id"]
    );
    let response = app.get("/api/products?minPrice=10&maxPrice=1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["total"], 0);
    let cart = app
        .client
        .post(app.url("/api/cart/add"))
        .json(&json!({"productId": created["id"], "quantity": 2.0}))
        .send()
        .await
        .expect("sent");
    assert_eq!(cart.status(), 200);
}
