//! What a socket may see of a product event. An inactive product is an admin's business
//! only (`GET /api/products/{id}` answers 404 to anyone else), so a socket that is not an
//! admin's never gets its fields, live or replayed: a creation of an inactive product
//! is left out, an update that leaves it inactive becomes `product.deleted` with
//! `reason` `inactive` (the product left its view, or was never in it: the id and
//! version tell nothing more), and the update that activates it arrives as a
//! `product.updated` with the product. The offset and the rest of the envelope stay, so
//! replay seams and gap mending work on the copy as on the original.
//!
//! Pure, so the live fan-out (once per event, not per socket) and the `since` replay
//! apply the same rule.

use std::borrow::Cow;

use crate::pubsub::product_events::{DeleteReason, ProductChange};
use crate::pubsub::ProductEvent;

/// Whom a socket's events are for, decided at its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every event whole.
    Admin,
    /// Active products only.
    Public,
}

/// The event as `audience` may see it; `None` when it must not hear of it at all.
pub fn visible_to(event: &ProductEvent, audience: Audience) -> Option<Cow<'_, ProductEvent>> {
    if audience == Audience::Admin {
        return Some(Cow::Borrowed(event));
    }
    match &event.change {
        ProductChange::Created { product } if !product.is_active => None,
        ProductChange::Updated { product, .. } if !product.is_active => {
            let mut hidden = event.clone();
            hidden.change = ProductChange::Deleted {
                id: product.id,
                version: Some(product.version),
                reason: Some(DeleteReason::Inactive),
            };
            Some(Cow::Owned(hidden))
        }
        _ => Some(Cow::Borrowed(event)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Product};

    fn event(change: ProductChange) -> ProductEvent {
        ProductEvent {
            change,
            ts: chrono::Utc::now(),
            v: 1,
            epoch: None,
            offset: 9,
        }
    }

    fn product(is_active: bool) -> Product {
        let now = chrono::Utc::now();
        Product {
            id: 4,
            name: "Secret".into(),
            description: String::new(),
            category: "Home".into(),
            price: Price::from_stored_cents(100),
            stock: 1,
            is_active,
            version: 3,
            created_at: now,
            updated_at: now,
        }
    }

    fn updated(is_active: bool) -> ProductEvent {
        event(ProductChange::Updated {
            product: product(is_active),
            previous_category: Some("Office".into()),
        })
    }

    #[test]
    fn admins_see_every_event_whole() {
        let created = event(ProductChange::Created {
            product: product(false),
        });
        for original in [created, updated(false)] {
            let seen = visible_to(&original, Audience::Admin).unwrap();
            assert!(matches!(seen, Cow::Borrowed(e) if *e == original));
        }
    }

    #[test]
    fn the_public_never_sees_an_inactive_product() {
        let created = event(ProductChange::Created {
            product: product(false),
        });
        assert!(visible_to(&created, Audience::Public).is_none());

        let deactivated = updated(false);
        let hidden = visible_to(&deactivated, Audience::Public).unwrap();
        let json = serde_json::to_value(hidden.as_ref()).unwrap();
        assert_eq!(json["type"], "product.deleted");
        assert_eq!(json["id"], 4);
        assert_eq!(json["version"], 3);
        assert_eq!(json["reason"], "inactive");
        assert_eq!(json["offset"], 9, "the envelope stays");
        assert!(!json.to_string().contains("Secret"), "{json}");
    }

    #[test]
    fn the_public_sees_active_products_and_deletes_as_they_are() {
        let deleted = event(ProductChange::Deleted {
            id: 4,
            version: Some(3),
            reason: None,
        });
        let created = event(ProductChange::Created {
            product: product(true),
        });
        for original in [updated(true), created, deleted] {
            let seen = visible_to(&original, Audience::Public).unwrap();
            assert!(matches!(seen, Cow::Borrowed(e) if *e == original));
        }
    }
}
