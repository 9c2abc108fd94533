//! The wire format of `script.lua`: the arguments of a batch of checks and the reply.

use super::actor::CheckKey;
use super::policy::Algorithm;
use super::{Decision, PolicyState};

/// The script call for a batch: `ARGV = count, then per request: member, policy count,
/// and per policy: algorithm, limit, window`; `KEYS` = every request's keys in order.
pub fn invocation<'a>(
    script: &'a redis::Script,
    requests: &[(Vec<CheckKey>, String)],
) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.prepare_invoke();
    invocation.arg(requests.len());
    for (keys, member) in requests {
        invocation.arg(member).arg(keys.len());
        for k in keys {
            let algorithm = match k.algorithm {
                Algorithm::SlidingLog => "l",
                Algorithm::Gcra => "g",
            };
            invocation.key(&k.key);
            invocation.arg(algorithm).arg(k.limit).arg(k.window_ms);
        }
    }
    invocation
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
