//! Password hashing is bounded: past `auth.max_concurrent_hashes` busy slots and the
//! queue timeout, a login is a 503 with `Retry-After`, never a 500 or a pile-up.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{spawn_app_with, PASSWORD};

#[actix_web::test]
async fn logins_beyond_the_hashing_slots_get_503_with_retry_after() {
    // One slot and no waiting: of a burst of logins, all but those that find the slot
    // free are turned away.
    let app = spawn_app_with(|s| {
        s.auth.max_concurrent_hashes = 1;
        s.auth.hash_queue_timeout_ms = 0;
    })
    .await;
    app.register_and_login("burst@example.com", PASSWORD).await;

    let logins = (0..16).map(|_| {
        app.anonymous_client()
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "burst@example.com", "password": PASSWORD}))
            .send()
    });
    let responses = join_all(logins).await;

    let mut busy = 0;
    for response in responses {
        let response = response.expect("sent");
        match response.status().as_u16() {
            200 => {}
            503 => {
                busy += 1;
                assert_eq!(
                    response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                    Some("1")
                );
                let body = crate::helpers::assert_error(response, 503, "service_unavailable").await;
                assert!(body["error"]["message"].is_string());
            }
            other => panic!("a login answered {other}"),
        }
    }
    assert!(
        busy > 0,
        "one slot and no queue: some of 16 logins must be turned away"
    );
    // The slot is free again afterwards.
    let client = app.anonymous_client();
    assert!(app.try_login(&client, "burst@example.com", PASSWORD).await);
}
