//! The admin dashboard: `GET /admin` (the page, for an admin), `GET /admin/login` (the
//! sign-in page, for anyone) and `GET /static/{path}` (their scripts, styles and the
//! vendored chart library). The files are compiled into the binary, so a deployment is
//! one file and the page can never be out of step with the API it calls.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::auth::extract::admin_user;
use crate::error::ApiError;

/// An embedded file: its path under `/static/`, its media type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("admin/dashboard.js", JS),
    asset!("admin/dashboard.css", CSS),
    asset!("admin/login.js", JS),
    asset!("vendor/uplot-1.6.32/uPlot.iife.min.js", JS),
    asset!("vendor/uplot-1.6.32/uPlot.min.css", CSS),
    asset!("vendor/uplot-1.6.32/LICENSE", "text/plain; charset=utf-8"),
];

const DASHBOARD_HTML: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/static/admin/index.html"
));
const LOGIN_HTML: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/static/admin/login.html"
));

/// Scripts and styles come from this origin only; the page talks to this origin only
/// (its API and its WebSocket), and is never framed.
const CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /admin`: the dashboard for an admin. A browser without an admin session is sent
/// to the sign-in page; other clients get the JSON error every `/admin` route gives.
pub async fn page(req: HttpRequest) -> HttpResponse {
    match admin_user(&req) {
        Ok(_) => html(DASHBOARD_HTML),
        Err(ApiError::Unauthorized) if wants_html(&req) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/admin/login"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => e.error_response(),
    }
}

/// `GET /admin/login`: the sign-in page (it posts to `/api/auth/login`).
pub async fn login_page() -> HttpResponse {
    html(LOGIN_HTML)
}

/// `GET /static/{path}`: one embedded file, or the JSON 404.
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.path == path.as_str()) {
        Some(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, a.content_type))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            // Not immutable: the names carry no content hash, and a new release must
            // reach browsers that hold the old script.
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(a.body),
        None => ApiError::NotFound("Route not found").error_response(),
    }
}

fn html(body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_pages_load_is_embedded() {
        let pages = [DASHBOARD_HTML, LOGIN_HTML];
        for page in pages {
            let text = std::str::from_utf8(page).unwrap();
            for part in text.split("/static/").skip(1) {
                let path = part.split('"').next().unwrap();
                assert!(
                    ASSETS.iter().any(|a| a.path == path),
                    "{path} is linked but not embedded"
                );
            }
        }
    }
}
