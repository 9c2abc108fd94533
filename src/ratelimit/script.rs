//! The wire format of `script.lua`: the call for a batch of checks and its reply.

use super::actor::CheckKey;
use super::policy::Algorithm;
use super::{Decision, PolicyState};

/// The Lua source of the batch script (run by `EVALSHA` with `command`'s arguments).
pub const SOURCE: &str = include_str!("script.lua");

/// The script call for a batch: `EVALSHA hash, then KEYS` = every request's keys in
/// order, `ARGV = count, then per request: member, policy count, and per policy:
/// algorithm, limit, window`. Built as one `Cmd` (one buffer for every argument) rather
/// than a `ScriptInvocation`, which holds each argument in a vector of its own and copies
/// them all into a `Cmd` again: a dozen allocations per check on the request path.
pub fn command(hash: &str, requests: &[(Vec<CheckKey>, String)]) -> redis::Cmd {
    let keys: usize = requests.iter().map(|(keys, _)| keys.len()).sum();
    let key_bytes: usize = requests
        .iter()
        .flat_map(|(keys, _)| keys.iter().map(|k| k.key.len()))
        .sum();
    let mut cmd = redis::Cmd::with_capacity(4 + 2 * requests.len() + 4 * keys, 96 + 2 * key_bytes);
    cmd.arg("EVALSHA").arg(hash).arg(keys);
    for (keys, _) in requests {
        for k in keys {
            cmd.arg(k.key.as_str());
        }
    }
    cmd.arg(requests.len());
    for (keys, member) in requests {
        cmd.arg(member.as_str()).arg(keys.len());
        for k in keys {
            let algorithm = match k.algorithm {
                Algorithm::SlidingLog => "l",
                Algorithm::Gcra => "g",
            };
            cmd.arg(algorithm).arg(k.limit).arg(k.window_ms);
        }
    }
    cmd
}

/// Parses the script's reply, per request `{allowed, remaining, reset_ms, ...}`, given
/// how many policies each request has.
pub fn decode(raw: &[i64], sizes: &[usize]) -> Option<Vec<Decision>> {
    let mut rest = raw;
    let mut decisions = Vec::with_capacity(sizes.len());
    for &policies in sizes {
        let (allowed, after) = rest.split_first()?;
        if after.len() < policies * 2 {
            return None;
        }
        let (pairs, after) = after.split_at(policies * 2);
        let states = pairs
            .chunks_exact(2)
            .map(|pair| PolicyState {
                remaining: pair[0].max(0) as u64,
                reset_ms: pair[1].max(0) as u64,
            })
            .collect();
        decisions.push(Decision {
            allowed: *allowed == 1,
            states,
        });
        rest = after;
    }
    rest.is_empty().then_some(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_one_evalsha_with_every_key_before_the_arguments() {
        let key = |name: &str, algorithm| CheckKey {
            key: name.to_string(),
            limit: 10,
            window_ms: 60_000,
            algorithm,
        };
        let requests = vec![
            (
                vec![key("a", Algorithm::Gcra), key("b", Algorithm::SlidingLog)],
                "m1".to_string(),
            ),
            (vec![key("c", Algorithm::Gcra)], String::new()),
        ];
        let args: Vec<Vec<u8>> = command("abc", &requests)
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                redis::Arg::Cursor => Vec::new(),
            })
            .collect();
        let expected: Vec<&str> = vec![
            "EVALSHA", "abc", "3", "a", "b", "c", "2", "m1", "2", "g", "10", "60000", "l", "10",
            "60000", "", "1", "g", "10", "60000",
        ];
        let expected: Vec<Vec<u8>> = expected.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(args, expected);
    }

    #[test]
    fn script_replies_decode_per_request_and_policy() {
        let d = decode(&[1, 9, 1000, 0, 250, 0, 0, 40], &[2, 1]).unwrap();
        assert!(d[0].allowed);
        assert_eq!(
            d[0].states[1],
            PolicyState {
                remaining: 0,
                reset_ms: 250
            }
        );
        assert!(!d[1].allowed);
        assert_eq!(d[1].states[0].reset_ms, 40);
        assert!(decode(&[0, 1], &[1]).is_none());
        assert!(decode(&[1, 1, 1, 7], &[1]).is_none());
        assert!(decode(&[], &[0]).is_none());
    }
}
