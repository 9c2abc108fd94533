//! Property tests over the request parsers (list query, product bodies, credentials):
//! whatever a client sends, they never panic, and whatever they accept holds no control
//! character and lies within the documented bounds.

use catalog_cache::auth::credentials::{check_email, check_password, read};
use catalog_cache::domain::price::MAX_CENTS;
use catalog_cache::domain::product::{CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX};
use catalog_cache::domain::{CreateProduct, ListQuery, UpdateProduct};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Text that often holds control characters, white space and non-ASCII letters.
fn text(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => prop::char::range('a', 'e'),
        2 => prop::char::range('\0', '\u{a0}'),
        1 => Just(' '),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..max).prop_map(String::from_iter)
}

/// A JSON value of any type, strings from [`text`].
fn any_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (0u32..2_000_000u32).prop_map(|c| json!(f64::from(c) / 100.0)),
        text(40).prop_map(Value::String),
    ]
}

/// Product bodies: the known fields with plausible or wild values, sometimes an extra.
fn product_body() -> impl Strategy<Value = Value> {
    let field = |long: usize| {
        prop::option::of(prop_oneof![
            3 => text(long).prop_map(Value::String),
            1 => any_json(),
        ])
    };
    (
        field(210),
        field(60),
        field(110),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
        prop::option::of((text(8), any_json())),
    )
        .prop_map(
            |(name, description, category, price, stock, active, extra)| {
                let mut map = Map::new();
                let fields = [
                    ("name", name),
                    ("description", description),
                    ("category", category),
                    ("price", price),
                    ("stock", stock),
                    ("isActive", active),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        map.insert(k.to_string(), v);
                    }
                }
                if let Some((k, v)) = extra {
                    map.insert(k, v);
                }
                Value::Object(map)
            },
        )
}

fn line_ok(s: &str, max: usize) -> bool {
    !s.chars().any(char::is_control)
        && !s.trim().is_empty()
        && s == s.trim()
        && s.chars().count() <= max
}

fn multiline_ok(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        && s.chars().count() <= DESCRIPTION_MAX
}

fn price_ok(cents: i64) -> bool {
    (0..=MAX_CENTS).contains(&cents)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn list_queries_never_panic_and_accept_only_bounded_clean_values(
        pairs in prop::collection::vec(
            (prop_oneof![
                Just("category".to_string()),
                Just("minPrice".to_string()),
                Just("maxPrice".to_string()),
                Just("page".to_string()),
                Just("limit".to_string()),
                text(6),
            ], prop_oneof![text(120), any::<i64>().prop_map(|n| n.to_string()), any::<f64>().prop_map(|f| f.to_string())]),
            0..6,
        ),
        raw in text(60),
    ) {
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        for query in [encoded.as_str(), raw.as_str()] {
            if let Ok(q) = ListQuery::parse(query) {
                if let Some(c) = &q.category {
                    prop_assert!(line_ok(c, CATEGORY_MAX), "{c:?}");
                }
                prop_assert!((1..=200).contains(&q.limit));
                prop_assert!(q.page >= 1);
                for p in [q.min_price, q.max_price].into_iter().flatten() {
                    prop_assert!(price_ok(p.cents()));
                }
            }
        }
    }

    #[test]
    fn product_creation_accepts_only_clean_bounded_fields(body in product_body()) {
        if let Ok(row) = CreateProduct::parse(body) {
            prop_assert!(line_ok(&row.name, NAME_MAX), "{:?}", row.name);
            prop_assert!(line_ok(&row.category, CATEGORY_MAX), "{:?}", row.category);
            prop_assert!(multiline_ok(&row.description), "{:?}", row.description);
            prop_assert!(price_ok(row.price_cents));
            prop_assert!(row.stock >= 0);
        }
    }

    #[test]
    fn product_updates_accept_only_clean_bounded_fields(body in product_body()) {
        if let Ok(changes) = UpdateProduct::parse(body) {
            prop_assert!(!changes.is_empty());
            if let Some(name) = &changes.name {
                prop_assert!(line_ok(name, NAME_MAX), "{name:?}");
            }
            if let Some(category) = &changes.category {
                prop_assert!(line_ok(category, CATEGORY_MAX), "{category:?}");
            }
            if let Some(description) = &changes.description {
                prop_assert!(multiline_ok(description), "{description:?}");
            }
            if let Some(cents) = changes.price_cents {
                prop_assert!(price_ok(cents));
            }
            if let Some(stock) = changes.stock {
                prop_assert!(stock >= 0);
            }
        }
    }

    #[test]
    fn credentials_accept_only_clean_bounded_values(
        email in prop_oneof![text(40), "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,4}"],
        password in text(140),
        extra in prop::option::of(any_json()),
    ) {
        let mut body = json!({"email": email, "password": password});
        if let Some(extra) = extra {
            body["password"] = extra;
        }
        if let Ok((email, password)) = read(&body) {
            prop_assert!(!email.chars().any(char::is_control));
            prop_assert!(!password.chars().any(char::is_control));
        }
        if let Ok(email) = check_email(&email) {
            prop_assert!(!email.chars().any(|c| c.is_control() || c.is_whitespace()));
            prop_assert!((3..=254).contains(&email.len()) && email.contains('@'));
        }
        if check_password(&password).is_ok() {
            prop_assert!(!password.chars().any(char::is_control));
            prop_assert!((12..=128).contains(&password.chars().count()));
        }
    }
}
