//! Who may read `/metrics`: allowed networks (client decided as the rate limiter does,
//! through trusted proxies), or the admin token; anyone else 403 JSON.

use crate::helpers::{assert_error, spawn_app_with, TestApp};

async fn scrape_as(app: &TestApp, forwarded_for: Option<&str>, token: bool) -> reqwest::Response {
    let client = if token {
        app.token_client()
    } else {
        app.anonymous_client()
    };
    let mut request = client.get(app.url("/metrics"));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.expect("sent")
}

#[actix_web::test]
async fn a_client_outside_the_allowed_networks_needs_the_token() {
    // Loopback is a trusted proxy: the client is what X-Forwarded-For says.
    let app = spawn_app_with(|s| s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()]).await;

    assert_eq!(scrape_as(&app, None, false).await.status(), 200, "loopback");
    assert_error(
        scrape_as(&app, Some("203.0.113.7"), false).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        scrape_as(&app, Some("203.0.113.7"), true).await.status(),
        200
    );
    // A wrong token is no token.
    let wrong = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .bearer_auth("not-the-token-not-the-token-not-the-token")
        .send()
        .await
        .unwrap();
    assert_error(wrong, 403, "forbidden").await;
    // An admin session is not the token: /metrics is for scrapers.
    let session = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_error(session, 403, "forbidden").await;
}

#[actix_web::test]
async fn allowed_networks_are_matched_against_the_client_behind_trusted_proxies() {
    let app = spawn_app_with(|s| {
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.0/8".into()];
        s.metrics.allowed_networks = vec!["192.0.2.0/24".into()];
    })
    .await;

    // Walked from the right: 10.1.1.1 is a trusted proxy, 192.0.2.9 the client.
    let through_two = scrape_as(&app, Some("6.6.6.6, 192.0.2.9, 10.1.1.1"), false).await;
    assert_eq!(through_two.status(), 200);
    // The client wrote 192.0.2.9 itself; our proxy saw 198.51.100.4.
    assert_error(
        scrape_as(&app, Some("192.0.2.9, 198.51.100.4"), false).await,
        403,
        "forbidden",
    )
    .await;
    // Loopback is no longer listed: a direct request from it is refused too.
    assert_error(scrape_as(&app, None, false).await, 403, "forbidden").await;
}

#[actix_web::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies: the loopback peer is the client, whatever the header claims.
    let app = spawn_app_with(|s| s.metrics.allowed_networks = vec!["192.0.2.0/24".into()]).await;
    assert_error(
        scrape_as(&app, Some("192.0.2.9"), false).await,
        403,
        "forbidden",
    )
    .await;
}

#[actix_web::test]
async fn a_forwarded_request_from_an_untrusted_loopback_peer_is_not_on_an_allowed_network() {
    // The default: loopback allowed, no trusted proxy. A proxy on this host (nginx) that is
    // not configured as trusted makes every client's peer 127.0.0.1: the forwarding
    // headers give it away.
    let app = spawn_app_with(|_| {}).await;
    assert_error(
        scrape_as(&app, Some("203.0.113.7"), false).await,
        403,
        "forbidden",
    )
    .await;
    // Even when it names a loopback client: an untrusted peer's word proves nothing.
    assert_error(
        scrape_as(&app, Some("127.0.0.1"), false).await,
        403,
        "forbidden",
    )
    .await;
    for forwarded in ["for=203.0.113.7", "for=127.0.0.1;proto=http"] {
        let response = app
            .anonymous_client()
            .get(app.url("/metrics"))
            .header("forwarded", forwarded)
            .send()
            .await
            .expect("sent");
        assert_error(response, 403, "forbidden").await;
    }
    // The token still works through such a proxy; a plain local request needs none.
    assert_eq!(
        scrape_as(&app, Some("203.0.113.7"), true).await.status(),
        200
    );
    assert_eq!(scrape_as(&app, None, false).await.status(), 200);
}

#[actix_web::test]
async fn a_trusted_loopback_proxy_still_lets_the_walk_decide() {
    let app = spawn_app_with(|s| s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()]).await;
    // Our proxy saw a loopback client: allowed as before.
    assert_eq!(
        scrape_as(&app, Some("127.0.0.1"), false).await.status(),
        200
    );
    // `Forwarded` is not walked: the trusted peer itself is the client.
    let response = app
        .anonymous_client()
        .get(app.url("/metrics"))
        .header("forwarded", "for=203.0.113.7")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}
