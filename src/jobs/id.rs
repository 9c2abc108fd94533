//! Job ids: what may name a job. Its own module so the schedules' parser (`cron`, used
//! by the settings' validation) needs nothing that reads the settings.

/// Whether an id can name a job: it appears in Redis keys and in URL paths.
pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_key_and_path_safe() {
        assert!(valid_id("outbox-12"));
        assert!(valid_id("cron:products-warming:1700000000"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
        assert!(!valid_id("a b"));
        assert!(!valid_id("{x}"));
        assert!(!valid_id(&"a".repeat(129)));
    }
}
