//! `/admin/metrics/cache` and `/admin/cache/invalidate`.

use serde_json::json;

use crate::cache::{metrics, one_worker_app, x_cache};
use crate::helpers::assert_error;

#[actix_web::test]
async fn metrics_report_every_tier_the_breaker_and_redis_memory() {
    let app = one_worker_app().await;
    app.seed(1).await;
    x_cache(&app, "/api/products/1").await;
    x_cache(&app, "/api/products/1").await;

    let m = metrics(&app).await;
    let cache = &m["cache"];
    assert_eq!(cache["l1"]["hits"], 1, "{m}");
    assert_eq!(cache["l1"]["misses"], 1, "{m}");
    assert_eq!(cache["l1"]["entries"], 1, "{m}");
    assert!(cache["l1"]["bytes"].as_u64().expect("bytes") > 0);
    assert!(cache["l1"]["evictions"].is_u64());
    assert_eq!(cache["l2"]["misses"], 1, "{m}");
    assert_eq!(cache["l2"]["entries"], 1, "{m}");
    assert_eq!(cache["dbQueries"], 1);
    assert_eq!(cache["coalesced"], 0);
    assert_eq!(cache["hitRate"], 0.5);
    assert_eq!(cache["breaker"]["state"], "closed");
    assert_eq!(m["redis"]["connected"], true);
    let memory = &m["redis"]["memory"];
    assert!(memory["usedMemory"].as_u64().expect("number") > 0, "{m}");
    assert!(memory["usedMemoryHuman"].is_string());
    assert!(memory["maxmemory"].is_u64());
    assert!(memory["fragmentationRatio"].is_f64() || memory["fragmentationRatio"].is_u64());
    assert!(memory["evictedKeys"].is_u64());
}

#[actix_web::test]
async fn invalidate_refuses_no_target_several_targets_and_a_bare_star() {
    let app = one_worker_app().await;
    for body in [
        json!({}),
        json!({"pattern": "*"}),
        json!({"all": false}),
        json!({"tag": "a", "key": "b"}),
        json!({"key": ""}),
    ] {
        assert_error(
            app.post_json("/admin/cache/invalidate", &body).await,
            400,
            "bad_request",
        )
        .await;
    }
}

#[actix_web::test]
async fn invalidate_by_pattern_tag_key_and_all() {
    let app = one_worker_app().await;
    app.seed(3).await;
    let paths = [
        "/api/products/1",
        "/api/products/2",
        "/api/products?category=Books",
    ];
    let warm = || async {
        for p in paths {
            x_cache(&app, p).await;
        }
    };
    let invalidate = |body: serde_json::Value| {
        let app = &app;
        async move {
            let response = app.post_json("/admin/cache/invalidate", &body).await;
            assert_eq!(response.status(), 200, "{body}");
            let json: serde_json::Value = response.json().await.expect("json");
            assert_eq!(json["success"], true);
            json["message"].as_str().expect("message").to_string()
        }
    };

    warm().await;
    assert_eq!(
        invalidate(json!({"pattern": "products:list:*"})).await,
        "Invalidated 1 keys"
    );
    assert_eq!(x_cache(&app, paths[2]).await, "MISS");
    assert_eq!(x_cache(&app, paths[0]).await, "HIT-L1");

    // Product 2 and the Books list carry `category:Books`.
    assert_eq!(
        invalidate(json!({"tag": "category:Books"})).await,
        "Invalidated 2 keys"
    );
    assert_eq!(x_cache(&app, paths[1]).await, "MISS");
    assert_eq!(x_cache(&app, paths[2]).await, "MISS");
    assert_eq!(x_cache(&app, paths[0]).await, "HIT-L1");

    assert_eq!(
        invalidate(json!({"key": "products:1"})).await,
        "Invalidated 1 keys"
    );
    assert_eq!(x_cache(&app, paths[0]).await, "MISS");

    warm().await;
    assert_eq!(invalidate(json!({"all": true})).await, "Invalidated 3 keys");
    for p in paths {
        assert_eq!(x_cache(&app, p).await, "MISS", "{p}");
    }
    let m = metrics(&app).await;
    assert_eq!(m["cache"]["invalidationsPublished"], 4, "{m}");
}
