//! Who a request is counted as behind a trusted proxy (the tests connect from 127.0.0.1,
//! which is trusted here): `X-Forwarded-For` walked from the right, hops with ports, and
//! IPv6 clients grouped by network.

use super::{limited, policy};
use crate::helpers::{spawn_app_with, TestApp};

async fn behind_proxy(ipv6_prefix_len: u8) -> TestApp {
    spawn_app_with(|s| {
        limited(s, vec![policy("list", "GET", "/api/products", 1, 3600)]);
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
        s.rate_limit.ipv6_prefix_len = ipv6_prefix_len;
    })
    .await
}

/// The status of one list request sent with this `X-Forwarded-For`.
async fn status_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.anonymous_client()
        .get(app.url("/api/products"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn junk_after_a_chosen_address_does_not_choose_the_identity() {
    let app = behind_proxy(64).await;
    let mut statuses = Vec::new();
    for i in 1..=3 {
        statuses.push(status_from(&app, &format!("{i}.6.6.6, junk")).await);
    }
    // The walk stops at the junk: all three are the proxy's (127.0.0.1) one client.
    assert_eq!(statuses, [200, 429, 429]);
}

#[actix_web::test]
async fn hops_with_ports_are_the_address_without_the_port() {
    let app = behind_proxy(64).await;
    assert_eq!(status_from(&app, "198.51.100.7:4711").await, 200);
    assert_eq!(status_from(&app, "[2001:db8::1]:443").await, 200);
    assert_eq!(status_from(&app, "198.51.100.7").await, 429);
    assert_eq!(status_from(&app, "198.51.100.7:5000").await, 429);
    assert_eq!(status_from(&app, "2001:db8::1").await, 429);
}

#[actix_web::test]
async fn an_ipv6_host_cannot_rotate_addresses_within_its_64() {
    let app = behind_proxy(64).await;
    assert_eq!(status_from(&app, "2001:db8:1:2::1").await, 200);
    assert_eq!(
        status_from(&app, "2001:db8:1:2:ffff:ffff:ffff:fffe").await,
        429
    );
    assert_eq!(
        status_from(&app, "6.6.6.6, [2001:db8:1:2::77]:80").await,
        429
    );
    // The next /64 is another client.
    assert_eq!(status_from(&app, "2001:db8:1:3::1").await, 200);
}

#[actix_web::test]
async fn the_ipv6_prefix_length_is_a_setting() {
    let per_address = behind_proxy(128).await;
    assert_eq!(status_from(&per_address, "2001:db8:1:2::1").await, 200);
    assert_eq!(status_from(&per_address, "2001:db8:1:2::2").await, 200);
    let per_48 = behind_proxy(48).await;
    assert_eq!(status_from(&per_48, "2001:db8:1:2::1").await, 200);
    assert_eq!(status_from(&per_48, "2001:db8:1:3::1").await, 429);
}
