use crate::helpers::spawn_app;
use serde_json::Value;

#[actix_web::test]
async fn openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    // A structurally valid OpenAPI 3.1 document...
    oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    let doc: Value = serde_json::from_str(&text).expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    // ...whose every $ref points at a schema that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
    let expected = [
        ("/api/products", "get"),
        ("/api/products", "post"),
        ("/api/products/{id}", "get"),
        ("/api/products/{id}", "put"),
        ("/api/products/{id}", "patch"),
        ("/api/products/{id}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/openapi.json", "get"),
        ("/admin/metrics/cache", "get"),
        ("/admin/metrics/cluster", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the document"
        );
    }
    // Every documented operation answers (not 404 or 405) on the real server.
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{id}", "1");
        for method in methods.as_object().expect("methods").keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let status = app
                .client
                .request(m, app.url(&concrete))
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16();
            assert!(
                status != 405,
                "{method} {path} is documented but not routed"
            );
        }
    }
    // Error responses point at the shared error schema.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ErrorBody"].is_object());
    assert!(schemas["Product"]["properties"]["isActive"].is_object());
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_states_the_answers_and_bounds_the_server_applies() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("methods") {
            let responses = &operation["responses"];
            for status in ["429", "503"] {
                assert!(responses[status].is_object(), "{method} {path}: {status}");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses[status].is_object(), "{method} {path}: {status}");
                }
            }
            if path.starts_with("/admin") || (path.starts_with("/api/products") && method != "get")
            {
                for status in ["401", "403"] {
                    assert!(responses[status].is_object(), "{method} {path}: {status}");
                }
            }
        }
    }
    // An update's fields may be left out but are never null; at least one is given and
    // unknown ones are refused.
    let update = &doc["components"]["schemas"]["UpdateProduct"];
    assert_eq!(update["properties"]["name"]["type"], "string", "{update}");
    assert_eq!(update["minProperties"], 1, "{update}");
    assert!(update.get("maxProperties").is_none(), "{update}");
    assert_eq!(update["additionalProperties"], false, "{update}");
    assert_eq!(
        doc["components"]["schemas"]["CreateProduct"]["properties"]["name"]["maxLength"],
        200
    );
    assert!(doc["paths"]["/api/cart/add"]["post"]["requestBody"].is_object());
    // Prometheus is text, its refusal JSON; the cluster lists cache documents.
    let metrics = &doc["paths"]["/metrics"]["get"]["responses"];
    assert!(
        metrics["200"]["content"]["text/plain"].is_object(),
        "{metrics}"
    );
    assert!(
        metrics["403"]["content"]["application/json"].is_object(),
        "{metrics}"
    );
    let cluster = &doc["components"]["schemas"]["ClusterMetrics"]["properties"]["instances"];
    assert_eq!(
        cluster["items"]["$ref"], "#/components/schemas/CacheMetrics",
        "{cluster}"
    );
    let cache = &doc["components"]["schemas"]["CacheMetrics"]["properties"];
    for field in ["rateLimiter", "websocket", "instance", "queues"] {
        assert!(cache[field].is_object(), "CacheMetrics.{field}: {cache}");
    }
}

#[actix_web::test]
async fn the_websocket_endpoint_documents_its_caps_close_codes_and_category_moves() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let ws = &doc["paths"]["/ws"]["get"];
    for status in ["101", "400", "429", "503"] {
        assert!(ws["responses"][status].is_object(), "/ws: {status}");
    }
    let per_ip = ws["responses"]["429"]["description"].as_str().unwrap_or("");
    assert!(per_ip.contains("max_connections_per_ip"), "{per_ip}");
    let total = ws["responses"]["503"]["description"].as_str().unwrap_or("");
    assert!(total.contains("max_connections"), "{total}");
    for status in ["429", "503"] {
        assert!(
            ws["responses"][status]["headers"]["Retry-After"].is_object(),
            "/ws {status}: Retry-After"
        );
    }
    let text = format!("{} {}", ws["summary"], ws["description"]);
    for needle in ["previousCategory", "1001", "1009", "1013", "1008"] {
        assert!(
            text.contains(needle),
            "/ws does not mention {needle}: {text}"
        );
    }
}
