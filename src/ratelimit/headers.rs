//! Rate-limit response headers.
//!
//! - `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` as in the
//!   reference design (the reset as an RFC 3339 UTC instant), for the policy closest to
//!   its limit;
//! - `RateLimit-Policy` listing every policy of the route and `RateLimit` for the closest
//!   one, as structured fields per the IETF httpapi draft -11:
//!   `RateLimit-Policy: "global";q=1000;w=900` and `RateLimit: "global";r=998;t=870`.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};

use super::policy::Policy;
use super::{Decision, PolicyState};

pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whole seconds until a reset, rounded up so a client never retries too early.
pub fn reset_secs(state: &PolicyState) -> u64 {
    state.reset_ms.div_ceil(1000)
}

/// The index of the policy closest to its limit: fewest requests left, then the longest
/// wait, so on a rejection it is the one that blocks longest.
pub fn closest(decision: &Decision) -> Option<usize> {
    decision
        .states
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| {
            a.remaining
                .cmp(&b.remaining)
                .then(b.reset_ms.cmp(&a.reset_ms))
        })
        .map(|(i, _)| i)
}

/// Seconds a rejected client should wait: until the closest policy frees a slot.
pub fn retry_after(decision: &Decision) -> u64 {
    closest(decision)
        .map(|i| reset_secs(&decision.states[i]).max(1))
        .unwrap_or(1)
}

/// Writes every rate-limit header for this decision.
pub fn apply(
    headers: &mut HeaderMap,
    policies: &[&Policy],
    decision: &Decision,
    now: DateTime<Utc>,
) {
    let Some(i) = closest(decision) else {
        return;
    };
    let (policy, state) = (&policies[i], &decision.states[i]);
    let reset_at = now + chrono::Duration::seconds(reset_secs(state) as i64);
    let list = match policies {
        [only] => only.policy_header.clone(),
        all => {
            let items: Vec<&str> = all
                .iter()
                .filter_map(|p| p.policy_header.to_str().ok())
                .collect();
            match HeaderValue::from_str(&items.join(", ")) {
                Ok(list) => list,
                Err(_) => return,
            }
        }
    };
    headers.insert(X_RATELIMIT_LIMIT, policy.limit_header.clone());
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(state.remaining));
    headers.insert(RATELIMIT_POLICY, list);
    let computed = [
        (
            X_RATELIMIT_RESET,
            reset_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        (
            RATELIMIT,
            format!(
                "\"{}\";r={};t={}",
                policy.name,
                state.remaining,
                reset_secs(state)
            ),
        ),
    ];
    for (name, value) in computed {
        // Handed over as `Bytes`: taken as is, where `from_str` would copy it.
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
            headers.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::policy::Policies;
    use crate::ratelimit::policy::PolicySettings;
    use actix_web::http::Method;

    fn two_policies() -> Policies {
        let p = |name: &str, limit, window_secs| PolicySettings {
            name: name.into(),
            methods: vec![],
            path: "/api/*".into(),
            limit,
            window_secs,
            identity: "client".into(),
            audience: "any".into(),
            algorithm: "sliding_log".into(),
        };
        Policies::parse_all(&[p("global", 1000, 900), p("burst", 10, 60)]).unwrap()
    }

    #[test]
    fn headers_show_every_policy_and_the_closest_one() {
        let decision = Decision {
            allowed: true,
            states: vec![
                PolicyState {
                    remaining: 998,
                    reset_ms: 870_000,
                },
                PolicyState {
                    remaining: 3,
                    reset_ms: 1_200,
                },
            ],
        };
        let mut h = HeaderMap::new();
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let policies = two_policies();
        let matching = policies.matching(&Method::GET, "/api/x", false);
        apply(&mut h, &matching, &decision, now);
        let get = |n: &HeaderName| h.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(
            get(&RATELIMIT_POLICY),
            "\"global\";q=1000;w=900, \"burst\";q=10;w=60"
        );
        assert_eq!(get(&RATELIMIT), "\"burst\";r=3;t=2");
        assert_eq!(get(&X_RATELIMIT_LIMIT), "10");
        assert_eq!(get(&X_RATELIMIT_REMAINING), "3");
        assert_eq!(get(&X_RATELIMIT_RESET), "2026-01-01T00:00:02Z");
        assert_eq!(retry_after(&decision), 2);
    }
}
