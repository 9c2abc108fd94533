//! Per-product version order of product events. A write commits, invalidates, then
//! publishes; nothing orders the publishes of two writes to one product, so the publish
//! script keeps, per product, the rank of the last event it published and refuses one
//! that is not above it (a single Redis runs the scripts one at a time, so every
//! subscriber and every replay then sees each product's events in version order).
//!
//! Rank: `2 × version`, plus one for a delete, which removes the version it names: an
//! update of version 3 and the delete of version 3 come in that order, and nothing comes
//! after a delete (ids are never reused).
//!
//! The script also remembers the category clients last heard the product in, so an
//! update that overtook an older one still tells that category the product left it
//! (`previousCategory` is the last published category, not the one before the write).
//!
//! The memory is one key per product, `{prefix}product:published:{id}`, refreshed by
//! each of its events and expiring `realtime.event_order_window_secs` later: it only has
//! to outlive the time an older event can spend between its commit and its publish (a
//! request's few seconds), so memory follows the products written in that window, and a
//! delete's tombstone goes away by itself. An event whose product's key has expired, or
//! was lost with Redis, is published as before.

use std::borrow::Cow;

use super::product_events::ProductChange;

/// The key of a product's last published rank and category, inside the prefix.
pub fn published_key(id: i64) -> String {
    format!("product:published:{id}")
}

/// What the publish script needs to order one product change.
#[derive(Debug, PartialEq, Eq)]
pub struct OrderGuard {
    pub id: i64,
    pub rank: i64,
    /// The product's category as JSON text (`""` for a delete, which has none).
    pub category: String,
    /// For an update: the category before the write as JSON text, used when the script
    /// remembers none. Empty for anything else (nothing then gets `previousCategory`).
    pub fallback_previous: String,
}

/// The change as Rust serializes it for the script (an update's `previousCategory` is
/// the script's to add) and its guard; a `product.gap` marker or a delete without a
/// version has none.
pub fn guard(
    change: &ProductChange,
) -> Result<(Cow<'_, ProductChange>, Option<OrderGuard>), serde_json::Error> {
    let guarded = match change {
        ProductChange::Created { product } => OrderGuard {
            id: product.id,
            rank: rank(product.version, false),
            category: serde_json::to_string(&product.category)?,
            fallback_previous: String::new(),
        },
        ProductChange::Updated {
            product,
            previous_category,
        } => {
            let before = previous_category.as_ref().unwrap_or(&product.category);
            let guarded = OrderGuard {
                id: product.id,
                rank: rank(product.version, false),
                category: serde_json::to_string(&product.category)?,
                fallback_previous: serde_json::to_string(before)?,
            };
            let bare = ProductChange::Updated {
                product: product.clone(),
                previous_category: None,
            };
            return Ok((Cow::Owned(bare), Some(guarded)));
        }
        ProductChange::Deleted {
            id,
            version: Some(version),
            ..
        } => OrderGuard {
            id: *id,
            rank: rank(*version, true),
            category: String::new(),
            fallback_previous: String::new(),
        },
        ProductChange::Deleted { version: None, .. } | ProductChange::Gap { .. } => {
            return Ok((Cow::Borrowed(change), None))
        }
    };
    Ok((Cow::Borrowed(change), Some(guarded)))
}

fn rank(version: i64, deleted: bool) -> i64 {
    version.saturating_mul(2).saturating_add(i64::from(deleted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Product};

    fn product(version: i64, category: &str) -> Product {
        let now = chrono::Utc::now();
        Product {
            id: 7,
            name: "Lamp".into(),
            description: String::new(),
            category: category.into(),
            price: Price::from_stored_cents(100),
            stock: 1,
            is_active: true,
            version,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_delete_ranks_after_the_update_of_its_version_and_before_the_next() {
        let updated = |version| ProductChange::Updated {
            product: product(version, "Home"),
            previous_category: None,
        };
        let deleted = ProductChange::Deleted {
            id: 7,
            version: Some(3),
            reason: None,
        };
        let rank_of = |change: &ProductChange| guard(change).unwrap().1.unwrap().rank;
        assert!(rank_of(&updated(3)) < rank_of(&deleted));
        assert!(rank_of(&deleted) < rank_of(&updated(4)));
        let created = ProductChange::Created {
            product: product(1, "Home"),
        };
        assert!(rank_of(&created) < rank_of(&updated(2)));
    }

    #[test]
    fn an_update_leaves_its_previous_category_to_the_script() {
        let moved = ProductChange::Updated {
            product: product(2, "Office"),
            previous_category: Some("Home \"A\"".into()),
        };
        let (bare, guarded) = guard(&moved).unwrap();
        assert!(matches!(
            bare.as_ref(),
            ProductChange::Updated {
                previous_category: None,
                ..
            }
        ));
        let guarded = guarded.unwrap();
        assert_eq!(guarded.category, r#""Office""#);
        assert_eq!(guarded.fallback_previous, r#""Home \"A\"""#);

        let stayed = ProductChange::Updated {
            product: product(3, "Office"),
            previous_category: None,
        };
        assert_eq!(
            guard(&stayed).unwrap().1.unwrap().fallback_previous,
            r#""Office""#
        );
    }

    #[test]
    fn gap_markers_and_unversioned_deletes_are_not_ordered() {
        assert_eq!(guard(&ProductChange::Gap { missed: 2 }).unwrap().1, None);
        let unversioned = ProductChange::Deleted {
            id: 7,
            version: None,
            reason: None,
        };
        assert_eq!(guard(&unversioned).unwrap().1, None);
    }
}
