//! Deterministic demo data: the same generator as the express-seed benchmark peer, so
//! both serve the same catalogue (ids 1..=N, 20 categories, fixed timestamps).
//!
//! Seeding is idempotent: rows are inserted with their ids and `ON CONFLICT DO NOTHING`,
//! so running it twice, or on a table that already has some of them, adds only what is
//! missing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use indicatif::{ProgressBar, ProgressStyle};

use super::DbResult;
use crate::schema::products;

pub const CATEGORIES: [&str; 20] = [
    "Electronics",
    "Books",
    "Clothing",
    "Home",
    "Garden",
    "Sports",
    "Toys",
    "Beauty",
    "Health",
    "Automotive",
    "Grocery",
    "Jewelry",
    "Music",
    "Office",
    "Pets",
    "Shoes",
    "Software",
    "Tools",
    "Games",
    "Baby",
];
const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Premium",
    "Compact",
    "Deluxe",
    "Eco",
    "Smart",
    "Ultra",
    "Essential",
    "Modern",
    "Vintage",
    "Portable",
    "Pro",
    "Lite",
    "Rugged",
    "Elegant",
    "Basic",
];
const QUALITIES: [&str; 8] = [
    "durable",
    "lightweight",
    "versatile",
    "reliable",
    "stylish",
    "practical",
    "high-quality",
    "compact",
];
const BATCH: usize = 1000;

/// One demo product, with its id.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = products)]
pub struct SeedRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The `i`-th demo product (from 1), identical to express-seed's `productFor(i)`.
pub fn product_for(i: u32) -> SeedRow {
    let n = i as usize;
    let category = CATEGORIES[(n - 1) % CATEGORIES.len()];
    let adjective = ADJECTIVES[(n * 7) % ADJECTIVES.len()];
    let quality = QUALITIES[(n * 11) % QUALITIES.len()];
    let series = format!(
        "{}{}",
        char::from(b'A' + (n % 26) as u8),
        100 + (n * 13) % 900
    );
    let warranty = 1 + n % 3;
    let created = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::minutes(i64::from(i));
    SeedRow {
        id: i64::from(i),
        name: format!("{adjective} {category} Item {i}"),
        description: format!(
            "A {quality} {} item from the {series} series. Built for everyday use, backed by a \
             {warranty}-year warranty and free returns within 30 days.",
            category.to_lowercase()
        ),
        category: category.to_string(),
        price_cents: 499 + ((n * 7919) % 99_500) as i64,
        stock: ((n * 37) % 500) as i32,
        is_active: true,
        created_at: created,
        updated_at: created,
    }
}

/// Makes sure demo products 1..=count exist. Returns how many rows were added.
pub async fn seed(conn: &mut AsyncPgConnection, count: u32) -> DbResult<usize> {
    let progress = if count >= 50_000 {
        ProgressBar::new(u64::from(count))
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} products ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut added = 0;
    let ids: Vec<u32> = (1..=count).collect();
    for chunk in ids.chunks(BATCH) {
        let rows: Vec<SeedRow> = chunk.iter().copied().map(product_for).collect();
        added += diesel::insert_into(products::table)
            .values(&rows)
            .on_conflict(products::id)
            .do_nothing()
            .execute(conn)
            .await?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    // Explicit ids do not advance the sequence: move it past them so the next
    // POST does not collide.
    diesel::sql_query(
        "SELECT setval(pg_get_serial_sequence('products', 'id'), \
         GREATEST((SELECT COALESCE(MAX(id), 0) + 1 FROM products), \
         (SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM products_id_seq)), \
         false)",
    )
    .execute(conn)
    .await?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_product_matches_express_seed() {
        let p = product_for(1);
        assert_eq!(p.name, "Essential Electronics Item 1");
        assert_eq!(
            p.description,
            "A reliable electronics item from the B113 series. Built for everyday use, \
             backed by a 2-year warranty and free returns within 30 days."
        );
        assert_eq!(p.price_cents, 8418);
        assert_eq!(p.stock, 37);
        assert_eq!(p.created_at.to_rfc3339(), "2024-01-01T00:01:00+00:00");
    }

    #[test]
    fn categories_cycle() {
        assert_eq!(product_for(20).category, "Baby");
        assert_eq!(product_for(21).category, "Electronics");
    }
}
