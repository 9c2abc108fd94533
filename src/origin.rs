//! Whether a browser request comes from one of this service's own pages.
//!
//! A browser names the page that made a cross-origin or unsafe request in `Origin`
//! (`scheme://host[:port]`, or `null` for an opaque origin: a sandboxed frame, a file).
//! The service's own origin is the one the browser addressed: `Host`, over plain HTTP
//! (the service speaks no TLS itself). Behind a trusted proxy (`rate_limit.trusted_proxies`,
//! the rule of `ratelimit::identity`) the proxy's `X-Forwarded-Host` and
//! `X-Forwarded-Proto` say what the browser addressed instead; from anyone else they are
//! ignored, since a page cannot set them on a browser's request but a client can on its
//! own. Origins are compared in their normalised form (lower case, no default port).

use std::net::SocketAddr;

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;

use crate::ratelimit::identity::TrustedProxies;

/// The service's own origin as each request addressed it, plus origins allowed besides.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    proxies: TrustedProxies,
    /// Further origins a `/ws` handshake may come from (`realtime.allowed_origins`),
    /// normalised.
    listed: Vec<String>,
}

impl Origins {
    /// `listed` entries that are not origins are dropped: start-up validates them first
    /// (`parse`).
    pub fn new(proxies: TrustedProxies, listed: &[String]) -> Origins {
        let listed = listed.iter().filter_map(|o| parse(o)).collect();
        Origins { proxies, listed }
    }

    /// Whether `origin` (an `Origin` value or a `Referer` URL) is the request's own.
    pub fn is_own(&self, origin: &str, req: &HttpRequest) -> bool {
        let own = own_origin(&self.proxies, req.peer_addr(), req.headers());
        matches!((parse(origin), own), (Some(origin), Some(own)) if origin == own)
    }

    /// Whether `origin` is the request's own or one of the listed ones.
    pub fn is_own_or_listed(&self, origin: &str, req: &HttpRequest) -> bool {
        self.is_own(origin, req) || parse(origin).is_some_and(|o| self.listed.contains(&o))
    }
}

/// The request's `Origin` header: `None` when absent, `Some("")` when not text (which
/// matches nothing).
pub fn origin_header(req: &HttpRequest) -> Option<&str> {
    header_text(req.headers(), header::ORIGIN)
}

/// The request's `Referer` header, as `origin_header`.
pub fn referer_header(req: &HttpRequest) -> Option<&str> {
    header_text(req.headers(), header::REFERER)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or(""))
}

/// The normalised origin (`scheme://host[:port]`) of an http(s) URL or origin; `None` for
/// `null`, another scheme, or anything unparseable.
pub fn parse(url: &str) -> Option<String> {
    let url = url::Url::parse(url.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// A configured origin: exactly `scheme://host[:port]` (a trailing `/` tolerated), so a
/// path or query that would be silently ignored is refused at start-up instead.
pub fn parse_configured(origin: &str) -> Result<String, String> {
    let url = url::Url::parse(origin).map_err(|e| format!("`{origin}` is not a URL: {e}"))?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    match parse(origin) {
        Some(normalised) if bare => Ok(normalised),
        _ => Err(format!(
            "`{origin}` is not an http(s) origin (scheme://host[:port], no path)"
        )),
    }
}

/// The origin the browser addressed: `Host` over http, or what a trusted proxy forwarded.
fn own_origin(
    proxies: &TrustedProxies,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<String> {
    let trusted = proxies.trusts_peer(peer);
    let forwarded = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?;
        // The hop our own proxy added is the last.
        Some(value.rsplit(',').next()?.trim()).filter(|v| !v.is_empty())
    };
    let host = match trusted.then(|| forwarded("x-forwarded-host")).flatten() {
        Some(host) => host,
        None => headers.get(header::HOST)?.to_str().ok()?,
    };
    let scheme = trusted
        .then(|| forwarded("x-forwarded-proto"))
        .flatten()
        .unwrap_or("http");
    // A host is no place for a path, credentials or a second URL.
    if host.is_empty() || host.contains(['/', '\\', '@', '?', '#', ' ']) {
        return None;
    }
    parse(&format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 5000))
    }

    #[test]
    fn origins_are_normalised_and_opaque_ones_match_nothing() {
        assert_eq!(
            parse("HTTP://Example.COM:80").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            parse("https://example.com:8443/a/b?c").as_deref(),
            Some("https://example.com:8443")
        );
        assert_eq!(
            parse("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        for junk in ["null", "", "file:///etc", "chrome-extension://abc", "nope"] {
            assert_eq!(parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn configured_origins_are_bare_origins() {
        assert_eq!(
            parse_configured("https://Shop.example/").as_deref(),
            Ok("https://shop.example")
        );
        for bad in [
            "shop.example",
            "https://shop.example/app",
            "https://shop.example?x=1",
            "https://user@shop.example",
            "ftp://shop.example",
            "null",
        ] {
            assert!(parse_configured(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_own_origin_is_the_host_unless_a_trusted_proxy_says_otherwise() {
        let none = TrustedProxies::default();
        let forwarded = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            own_origin(&none, peer("127.0.0.1"), &forwarded).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let local = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        assert_eq!(
            own_origin(&local, peer("127.0.0.1"), &forwarded).as_deref(),
            Some("https://evil.example")
        );
        // Several proxies: the last one's view.
        let chain = headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-host", "spoofed.example, shop.example"),
            ("x-forwarded-proto", "http, https"),
        ]);
        assert_eq!(
            own_origin(&local, peer("127.0.0.1"), &chain).as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(own_origin(&none, peer("127.0.0.1"), &headers(&[])), None);
        let odd = headers(&[("host", "a.example@b.example")]);
        assert_eq!(own_origin(&none, peer("127.0.0.1"), &odd), None);
    }
}
