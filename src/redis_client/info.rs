//! Redis `INFO` text parsed into the numbers the metrics report.

use serde::Serialize;

/// Memory figures from `INFO memory` and `INFO stats`.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RedisMemory {
    pub used_memory: u64,
    pub used_memory_human: String,
    pub maxmemory: u64,
    pub fragmentation_ratio: f64,
    pub evicted_keys: u64,
}

impl RedisMemory {
    /// Reads the `field:value` lines it knows, ignoring the rest.
    pub fn parse(info: &str) -> RedisMemory {
        let mut memory = RedisMemory::default();
        for line in info.lines() {
            let Some((field, value)) = line.trim_end().split_once(':') else {
                continue;
            };
            match field {
                "used_memory" => memory.used_memory = value.parse().unwrap_or(0),
                "used_memory_human" => memory.used_memory_human = value.to_string(),
                "maxmemory" => memory.maxmemory = value.parse().unwrap_or(0),
                "mem_fragmentation_ratio" => {
                    memory.fragmentation_ratio = value.parse().unwrap_or(0.0)
                }
                "evicted_keys" => memory.evicted_keys = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        memory
    }
}

/// `keyspace_hits` and `keyspace_misses` from `INFO stats`: lookups of existing and
/// missing keys, server-wide since Redis started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
}

impl KeyspaceStats {
    pub fn parse(info: &str) -> KeyspaceStats {
        let mut stats = KeyspaceStats::default();
        for line in info.lines() {
            match line.trim_end().split_once(':') {
                Some(("keyspace_hits", v)) => stats.hits = v.parse().unwrap_or(0),
                Some(("keyspace_misses", v)) => stats.misses = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_into_numbers() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\
                    maxmemory:0\r\nmem_fragmentation_ratio:1.25\r\n# Stats\r\nevicted_keys:7\r\n";
        assert_eq!(
            RedisMemory::parse(info),
            RedisMemory {
                used_memory: 1_048_576,
                used_memory_human: "1.00M".into(),
                maxmemory: 0,
                fragmentation_ratio: 1.25,
                evicted_keys: 7,
            }
        );
        let stats = "# Stats\r\nkeyspace_hits:12\r\nkeyspace_misses:3\r\n";
        assert_eq!(
            KeyspaceStats::parse(stats),
            KeyspaceStats {
                hits: 12,
                misses: 3
            }
        );
    }
}
