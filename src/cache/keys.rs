//! Cache keys and tags, and the glob matching used to invalidate L1 by pattern.
//!
//! Key names (what admins send, what `Keyspace` prefixes in Redis):
//! `products:{id}` for one product, `products:list:{canonical query}` for a list page.
//!
//! Tags: a product entry carries `product:{id}` and `category:{name}`. A list entry
//! carries `products:list`, and either `category:{name}` + `products:list:category:{name}`
//! (filtered by category) or `products:list:any` (not filtered by category). The two
//! list-only tags let a write drop exactly the lists that could contain the product
//! without also dropping every other product entry of its category.

use std::sync::Arc;

use crate::domain::ListQuery;

/// Tag of every list entry.
pub const ALL_LISTS: &str = "products:list";
/// Tag of the lists not filtered by category (any product may appear in them).
pub const UNFILTERED_LISTS: &str = "products:list:any";

/// What an entry is for. Product keys are plain integers so the hot path allocates
/// nothing to build one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    Product(i64),
    /// The list query's canonical form.
    List(Arc<str>),
}

impl CacheKey {
    pub fn list(query: &ListQuery) -> CacheKey {
        CacheKey::List(Arc::from(query.canonical()))
    }

    /// The key's name, as admins and Redis see it (without the prefix).
    pub fn name(&self) -> String {
        match self {
            CacheKey::Product(id) => format!("products:{id}"),
            CacheKey::List(query) => format!("products:list:{query}"),
        }
    }

    /// The key a name stands for, when it is one `name` gives; `None` for a name no
    /// entry can have (e.g. `products:007`, or a key of another kind).
    pub fn from_name(name: &str) -> Option<CacheKey> {
        let key = if let Some(query) = name.strip_prefix("products:list:") {
            CacheKey::List(Arc::from(query))
        } else {
            CacheKey::Product(name.strip_prefix("products:")?.parse().ok()?)
        };
        (key.name() == name).then_some(key)
    }
}

/// A product entry's tags.
pub fn product_tags(id: i64, category: &str) -> Vec<String> {
    vec![format!("product:{id}"), format!("category:{category}")]
}

/// A list entry's tags.
pub fn list_tags(query: &ListQuery) -> Vec<String> {
    match &query.category {
        Some(c) => vec![
            ALL_LISTS.to_string(),
            format!("category:{c}"),
            list_category_tag(c),
        ],
        None => vec![ALL_LISTS.to_string(), UNFILTERED_LISTS.to_string()],
    }
}

/// The tag of the lists filtered by this category.
pub fn list_category_tag(category: &str) -> String {
    format!("{ALL_LISTS}:category:{category}")
}

/// Whether a pattern means "everything" (only `*`s), which needs an explicit `all`.
pub fn is_match_all(pattern: &str) -> bool {
    pattern.chars().all(|c| c == '*')
}

/// Redis-style glob: `*`, `?`, `[abc]`, `[^a-z]` and `\` escapes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes())
}

fn glob(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(pi + 1),
            Some(b'[') => class(p, pi, t[ti]),
            Some(b'\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
            Some(&c) => (c == t[ti]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ti += 1;
            }
            (None, Some((after, from))) => {
                pi = after;
                ti = from + 1;
                star = Some((after, from + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns the index
/// after the class when it matches.
fn class(p: &[u8], start: usize, c: u8) -> Option<usize> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < p.len() && p[i] != b']' {
        if p[i] == b'\\' && i + 1 < p.len() {
            matched |= p[i + 1] == c;
            i += 2;
        } else if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            let (lo, hi) = (p[i].min(p[i + 2]), p[i].max(p[i + 2]));
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    // An unterminated class matches like Redis does: as far as it got.
    let end = if i < p.len() { i + 1 } else { i };
    (matched != negate).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert_eq!(CacheKey::Product(7).name(), "products:7");
        let q = ListQuery::parse("minPrice=1&category=Books").unwrap();
        assert_eq!(
            CacheKey::list(&q).name(),
            "products:list:category=Books&limit=50&minPrice=1.00&page=1"
        );
        assert_eq!(
            list_tags(&q),
            [
                "products:list",
                "category:Books",
                "products:list:category:Books"
            ]
        );
        let all = ListQuery::parse("").unwrap();
        assert_eq!(list_tags(&all), ["products:list", "products:list:any"]);
        assert_eq!(product_tags(3, "Home"), ["product:3", "category:Home"]);
    }

    #[test]
    fn a_name_gives_back_its_key_and_only_its_own() {
        let q = ListQuery::parse("category=Books").unwrap();
        for key in [
            CacheKey::Product(7),
            CacheKey::Product(-3),
            CacheKey::list(&q),
        ] {
            assert_eq!(CacheKey::from_name(&key.name()), Some(key));
        }
        for other in [
            "products:007",
            "products:+7",
            "products:",
            "product:7",
            "tag:x",
            "",
        ] {
            assert_eq!(CacheKey::from_name(other), None, "{other}");
        }
    }

    #[test]
    fn globs_behave_like_redis() {
        assert!(glob_match("products:list:*", "products:list:page=1"));
        assert!(!glob_match("products:list:*", "products:1"));
        assert!(glob_match("products:?", "products:7"));
        assert!(!glob_match("products:?", "products:17"));
        assert!(glob_match("products:[0-9]*", "products:17"));
        assert!(!glob_match("products:[^0-9]*", "products:17"));
        assert!(glob_match("*:1", "products:1"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn only_stars_means_everything() {
        assert!(is_match_all("*"));
        assert!(is_match_all("**"));
        assert!(!is_match_all("products:*"));
    }
}
