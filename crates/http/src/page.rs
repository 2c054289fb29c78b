//! The web playground: a page at `/` and the files it loads, compiled into
//! the binary (`include_bytes!` of `crates/http/web/`), so a fresh
//! `cargo run --release` serves it with no build step of its own.
//!
//! The page is plain HTML, CSS and JavaScript modules that call the API
//! under `/api/v1` from the same origin with the session cookie; nothing on
//! the server is made for it beyond serving these files. Every file goes
//! out with the same headers ([`security_headers`]): a Content Security
//! Policy that allows only this origin's scripts and styles (no inline
//! script or style, no framing, and Trusted Types required, so a string
//! can never reach the DOM as HTML), `nosniff`, no referrer. Each has an
//! `ETag` (a hash of its bytes) and `Cache-Control: no-cache`: browsers
//! revalidate and get `304 Not Modified` until the binary changes.

use std::hash::{DefaultHasher, Hash, Hasher};

use actix_web::http::header::{self, EntityTag, HeaderValue, IfNoneMatch};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::problem;

/// One file of the page.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes, compiled in.
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../web/", $file)),
        }
    };
}

/// Every file of the page, by path.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/assets/app.css", "app.css", "text/css; charset=utf-8"),
    asset!("/assets/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/assets/api.js", "api.js", "text/javascript; charset=utf-8"),
    asset!("/assets/dom.js", "dom.js", "text/javascript; charset=utf-8"),
    asset!(
        "/assets/chat.js",
        "chat.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/assets/keys.js",
        "keys.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/assets/account.js",
        "account.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/assets/usage.js",
        "usage.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/assets/favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// The page's Content Security Policy: this origin only, no inline script
/// or style, no plugins, no `<base>`, no framing, and DOM sinks that take
/// HTML (`innerHTML` and kin) refused outright.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// The headers every file of the page carries.
pub fn security_headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // For browsers that predate `frame-ancestors`.
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

/// A strong entity tag for `body`: its hash, stable for one build.
fn entity_tag(body: &[u8]) -> EntityTag {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    EntityTag::new_strong(format!("{:016x}", hasher.finish()))
}

/// Whether the request's `If-None-Match` names `tag` (or `*`).
fn not_modified(req: &HttpRequest, tag: &EntityTag) -> bool {
    match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(tag)),
        None => false,
    }
}

fn answer(asset: Asset, tag: &EntityTag, req: &HttpRequest) -> HttpResponse {
    let fresh = not_modified(req, tag);
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    for header in security_headers() {
        response.insert_header(header);
    }
    response.insert_header(header::ETag(tag.clone()));
    if fresh {
        return response.finish();
    }
    // To a HEAD, actix-web sends the length of this body and not the body.
    response.content_type(asset.content_type).body(asset.body)
}

/// 405 `method_not_allowed`, with the methods that are (RFC 9110 asks
/// for `Allow`).
async fn method_not_allowed() -> HttpResponse {
    let mut response = problem::method_not_allowed().await;
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Registers every file of the page: `GET` and `HEAD`, any other method
/// 405 `method_not_allowed`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    for &asset in ASSETS {
        let tag = entity_tag(asset.body);
        let serve = move |req: HttpRequest| {
            let response = answer(asset, &tag, &req);
            async move { response }
        };
        cfg.service(
            web::resource(asset.path)
                .route(web::get().to(serve.clone()))
                .route(web::head().to(serve))
                .default_service(web::to(method_not_allowed)),
        );
    }
}

#[cfg(test)]
mod tests;
