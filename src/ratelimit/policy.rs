//! Rate-limit policies from configuration, and which of them a request falls under.
//!
//! A request is matched by the path the router matched, never by the spelling on the
//! wire: the middleware passes actix's percent-decoded path (`match_info().as_str()`,
//! what the router itself matches against), and `matching` folds doubled slashes and a
//! trailing slash too, so `/%61pi//products/` counts like `/api/products` even if a
//! path-normalising layer is added in front of the router one day.

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use actix_web::http::Method;

use serde::Deserialize;

/// One rate-limit policy, as configured.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    /// Shown in `RateLimit-Policy`; also part of the Redis key.
    pub name: String,
    /// HTTP methods it applies to; empty means all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// An exact path, or a prefix when it ends with `*`.
    pub path: String,
    pub limit: u32,
    pub window_secs: u64,
    /// Who is counted: `client` (user id, else IP), `ip` or `email` (the JSON body's).
    #[serde(default = "default_identity")]
    pub identity: String,
    /// Who it applies to: `any`, `anonymous` or `signed_in`.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// How it counts: `sliding_log` (exact, a sorted set per identity) or `gcra` (one
    /// timestamp per identity).
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
}

fn default_identity() -> String {
    "client".to_string()
}

fn default_audience() -> String {
    "any".to_string()
}

fn default_algorithm() -> String {
    "sliding_log".to_string()
}

/// Who a policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// The signed-in user's id, else the client IP.
    Client,
    /// Always the client IP.
    Ip,
    /// The `email` field of the JSON body (login attempts per account).
    Email,
}

/// How a policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Exact sliding-window log: one sorted-set entry per allowed request in the window.
    SlidingLog,
    /// Generic cell rate algorithm: one timestamp per identity, O(1) memory.
    Gcra,
}

/// Which requests a policy applies to, by sign-in state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Any,
    Anonymous,
    SignedIn,
}

/// One validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    methods: Vec<Method>,
    path: String,
    prefix: bool,
    pub limit: u32,
    pub window_ms: u64,
    pub identity: IdentityKind,
    audience: Audience,
    pub algorithm: Algorithm,
    /// This policy's item of `RateLimit-Policy` (`"name";q=limit;w=window`) and its
    /// `X-RateLimit-Limit`, made once: they go on every limited response.
    pub policy_header: HeaderValue,
    pub limit_header: HeaderValue,
}

impl Policy {
    fn applies(&self, method: &Method, path: &str, signed_in: bool) -> bool {
        let path_matches = if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        };
        let audience_matches = match self.audience {
            Audience::Any => true,
            Audience::Anonymous => !signed_in,
            Audience::SignedIn => signed_in,
        };
        path_matches
            && audience_matches
            && (self.methods.is_empty() || self.methods.contains(method))
    }

    pub fn window_secs(&self) -> u64 {
        self.window_ms / 1000
    }
}

/// A configured policy that makes no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy `{0}`: {1}")]
    Invalid(String, &'static str),
    #[error("two policies are named `{0}`")]
    Duplicate(String),
}

/// Every configured policy, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    list: Arc<[Policy]>,
}

impl Policies {
    /// The configured policies (`rate_limit.policies`), checked and ready to match.
    pub fn parse_all(configured: &[PolicySettings]) -> Result<Policies, PolicyError> {
        let mut list: Vec<Policy> = Vec::with_capacity(configured.len());
        for raw in configured {
            let policy = parse(raw)?;
            if list.iter().any(|p| p.name == policy.name) {
                return Err(PolicyError::Duplicate(policy.name));
            }
            list.push(policy);
        }
        Ok(Policies { list: list.into() })
    }

    /// The policies a request falls under, borrowed: this runs on every request. `path`
    /// is the router's decoded path (see the module doc).
    pub fn matching(&self, method: &Method, path: &str, signed_in: bool) -> Vec<&Policy> {
        let path = normalise(path);
        self.list
            .iter()
            .filter(|p| p.applies(method, &path, signed_in))
            .collect()
    }
}

/// Folds runs of `/` into one and drops a trailing `/`; borrows when there is nothing to
/// fold, which is every ordinary request.
pub fn normalise(path: &str) -> Cow<'_, str> {
    let trailing = path.len() > 1 && path.ends_with('/');
    if !trailing && !path.contains("//") {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    Cow::Owned(out)
}

fn parse(raw: &PolicySettings) -> Result<Policy, PolicyError> {
    let bad = |why| PolicyError::Invalid(raw.name.clone(), why);
    // The name is a header token and part of a Redis key: keep it plain.
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if raw.name.is_empty() || raw.name.len() > 64 || !raw.name.chars().all(plain) {
        return Err(bad("name must be 1..=64 of [A-Za-z0-9_-]"));
    }
    if raw.limit == 0 || raw.window_secs == 0 || raw.window_secs > 31 * 24 * 3600 {
        return Err(bad("limit must be >= 1 and window_secs in 1..=2678400"));
    }
    if !raw.path.starts_with('/') {
        return Err(bad("path must start with /"));
    }
    let methods = raw
        .methods
        .iter()
        .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("unknown HTTP method"))?;
    let (path, prefix) = match raw.path.strip_suffix('*') {
        Some(p) => (p.to_string(), true),
        None => (raw.path.clone(), false),
    };
    let identity = match raw.identity.as_str() {
        "client" => IdentityKind::Client,
        "ip" => IdentityKind::Ip,
        "email" => IdentityKind::Email,
        _ => return Err(bad("identity must be client, ip or email")),
    };
    let audience = match raw.audience.as_str() {
        "any" => Audience::Any,
        "anonymous" => Audience::Anonymous,
        "signed_in" => Audience::SignedIn,
        _ => return Err(bad("audience must be any, anonymous or signed_in")),
    };
    let algorithm = match raw.algorithm.as_str() {
        "sliding_log" => Algorithm::SlidingLog,
        "gcra" => Algorithm::Gcra,
        _ => return Err(bad("algorithm must be sliding_log or gcra")),
    };
    let policy_header = HeaderValue::from_str(&format!(
        "\"{}\";q={};w={}",
        raw.name, raw.limit, raw.window_secs
    ))
    .map_err(|_| bad("name must be a header token"))?;
    Ok(Policy {
        policy_header,
        limit_header: HeaderValue::from(raw.limit),
        algorithm,
        name: raw.name.clone(),
        methods,
        path,
        prefix,
        limit: raw.limit,
        window_ms: raw.window_secs * 1000,
        identity,
        audience,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, methods: &[&str], path: &str, audience: &str) -> PolicySettings {
        PolicySettings {
            name: name.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path: path.into(),
            limit: 5,
            window_secs: 60,
            identity: "client".into(),
            audience: audience.into(),
            algorithm: "sliding_log".into(),
        }
    }

    fn policies(list: Vec<PolicySettings>) -> Result<Policies, PolicyError> {
        Policies::parse_all(&list)
    }

    fn names(p: &Policies, method: Method, path: &str, signed_in: bool) -> Vec<String> {
        p.matching(&method, path, signed_in)
            .into_iter()
            .map(|p| p.name.clone())
            .collect()
    }

    #[test]
    fn routes_match_by_method_path_and_audience() {
        let p = policies(vec![
            raw("global", &[], "/api/*", "any"),
            raw("create", &["post"], "/api/products", "any"),
            raw("write", &["PUT", "PATCH"], "/api/products/*", "any"),
            raw("anon", &["GET"], "/api/products", "anonymous"),
            raw("user", &["GET"], "/api/products", "signed_in"),
        ])
        .unwrap();
        assert_eq!(
            names(&p, Method::POST, "/api/products", false),
            ["global", "create"]
        );
        assert_eq!(
            names(&p, Method::PATCH, "/api/products/3", true),
            ["global", "write"]
        );
        assert_eq!(
            names(&p, Method::GET, "/api/products", false),
            ["global", "anon"]
        );
        assert_eq!(
            names(&p, Method::GET, "/api/products", true),
            ["global", "user"]
        );
        assert!(names(&p, Method::GET, "/healthz", false).is_empty());
    }

    #[test]
    fn policies_match_the_decoded_path_whatever_the_slashes() {
        let p = policies(vec![
            raw("global", &[], "/api/*", "any"),
            raw("login", &["POST"], "/api/auth/login", "any"),
        ])
        .unwrap();
        for path in ["/api/auth/login", "/api/auth/login/", "//api//auth///login"] {
            assert_eq!(names(&p, Method::POST, path, false), ["global", "login"]);
        }
        assert_eq!(normalise("/"), "/");
        assert_eq!(normalise("//"), "/");
        assert!(matches!(normalise("/api/products/1"), Cow::Borrowed(_)));
    }

    #[test]
    fn an_algorithm_is_chosen_per_policy() {
        let mut gcra = raw("g", &[], "/*", "any");
        gcra.algorithm = "gcra".into();
        let p = policies(vec![gcra, raw("l", &[], "/x", "any")]).unwrap();
        let algorithms: Vec<Algorithm> = p
            .matching(&Method::GET, "/x", false)
            .iter()
            .map(|p| p.algorithm)
            .collect();
        assert_eq!(algorithms, [Algorithm::Gcra, Algorithm::SlidingLog]);
        let mut bad = raw("b", &[], "/", "any");
        bad.algorithm = "leaky".into();
        assert!(policies(vec![bad]).is_err());
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(policies(vec![raw("a b", &[], "/", "any")]).is_err());
        assert!(policies(vec![raw("a", &[], "api", "any")]).is_err());
        assert!(policies(vec![raw("a", &[], "/", "everyone")]).is_err());
        let dup = policies(vec![raw("a", &[], "/", "any"), raw("a", &[], "/x", "any")]);
        assert_eq!(dup.unwrap_err(), PolicyError::Duplicate("a".into()));
    }
}
