use std::collections::BTreeSet;

use promptyard_test_support::api::Request;

use super::{ASSETS, Asset, CONTENT_SECURITY_POLICY};
use crate::test_app::{Response, test_app};

fn text(asset: &Asset) -> &'static str {
    std::str::from_utf8(asset.body).expect("every file of the page is UTF-8")
}

fn scripts() -> impl Iterator<Item = &'static Asset> {
    ASSETS.iter().filter(|asset| asset.path.ends_with(".js"))
}

fn assert_page_headers(response: &Response) {
    assert_eq!(
        response.header("content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
}

#[actix_web::test]
async fn every_file_is_served_with_its_type_its_bytes_and_the_page_headers() {
    let (_t, api) = test_app().await;

    for asset in ASSETS {
        let response = api.anonymous().get(asset.path).await;

        assert_eq!(response.status, 200, "{}", asset.path);
        assert_eq!(response.header("content-type"), Some(asset.content_type));
        assert_eq!(response.body, asset.body, "{}", asset.path);
        assert_page_headers(&response);
        assert!(response.header("etag").is_some(), "{}", asset.path);
    }
}

#[actix_web::test]
async fn the_page_is_html_at_the_root() {
    let (_t, api) = test_app().await;

    let response = api.anonymous().get("/").await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.text().starts_with("<!doctype html>"));
}

#[actix_web::test]
async fn a_browser_holding_the_current_file_gets_304_without_a_body() {
    let (_t, api) = test_app().await;
    let first = api.anonymous().get("/assets/app.js").await;
    let etag = first.header("etag").expect("an etag").to_owned();

    let again = api
        .anonymous()
        .send(Request::new("GET", "/assets/app.js").header("if-none-match", &etag))
        .await;
    let any = api
        .anonymous()
        .send(Request::new("GET", "/assets/app.js").header("if-none-match", "*"))
        .await;
    let weak = api
        .anonymous()
        .send(Request::new("GET", "/assets/app.js").header("if-none-match", &format!("W/{etag}")))
        .await;
    let other = api
        .anonymous()
        .send(Request::new("GET", "/assets/app.js").header("if-none-match", "\"stale\""))
        .await;

    for response in [&again, &any, &weak] {
        assert_eq!(response.status, 304);
        assert!(response.body.is_empty());
        assert_eq!(response.header("etag"), Some(etag.as_str()));
        assert_page_headers(response);
    }
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
}

#[actix_web::test]
async fn each_file_has_its_own_etag() {
    let (_t, api) = test_app().await;
    let mut tags = BTreeSet::new();

    for asset in ASSETS {
        let response = api.anonymous().get(asset.path).await;
        tags.insert(response.header("etag").expect("an etag").to_owned());
    }

    assert_eq!(tags.len(), ASSETS.len());
}

#[actix_web::test]
async fn head_answers_like_get_and_other_methods_get_405() {
    let (_t, api) = test_app().await;

    let head = api.anonymous().send(Request::new("HEAD", "/")).await;
    let post = api
        .anonymous()
        .send(Request::new("POST", "/").body("x"))
        .await;
    let delete = api.anonymous().delete("/assets/app.css").await;

    assert_eq!(head.status, 200);
    assert_page_headers(&head);
    for response in [post, delete] {
        assert_eq!(response.status, 405);
        assert_eq!(response.json()["code"], "method_not_allowed");
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
    }
}

#[actix_web::test]
async fn paths_beside_the_files_are_still_404_problems() {
    let (_t, api) = test_app().await;

    for path in [
        "/assets/",
        "/assets/nope.js",
        "/index.html",
        "/assets/app.js/x",
    ] {
        let response = api.anonymous().get(path).await;

        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.json()["code"], "not_found", "{path}");
    }
}

#[actix_web::test]
async fn the_api_keeps_its_own_headers() {
    let (_t, api) = test_app().await;

    let response = api.anonymous().get("/api/v1/auth/me").await;

    assert_eq!(response.status, 401);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-security-policy"), None);
}

#[test]
fn the_policy_allows_nothing_inline_and_no_other_origin() {
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(
            CONTENT_SECURITY_POLICY
                .split("; ")
                .any(|part| part == directive),
            "{directive}"
        );
    }
    for loose in ["unsafe-inline", "unsafe-eval", "*", "data:", "http"] {
        assert!(!CONTENT_SECURITY_POLICY.contains(loose), "{loose}");
    }
}

/// What a file of the page links to (`src="/..."`, `href="/..."`, and
/// `from "./x.js"` in modules), as served paths.
fn references(asset: &Asset) -> Vec<String> {
    let text = text(asset);
    let mut found = Vec::new();
    for (opener, prefix) in [
        ("src=\"/", "/"),
        ("href=\"/", "/"),
        ("from \"./", "/assets/"),
    ] {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let end = rest.find('"').expect("a closing quote");
            found.push(format!("{prefix}{}", &rest[..end]));
        }
    }
    found
}

#[test]
fn everything_the_page_links_to_is_served() {
    let served: BTreeSet<&str> = ASSETS.iter().map(|asset| asset.path).collect();
    let mut linked = BTreeSet::new();

    for asset in ASSETS {
        for reference in references(asset) {
            assert!(
                served.contains(reference.as_str()),
                "{} links to {reference}, which is not served",
                asset.path
            );
            linked.insert(reference);
        }
    }

    // And nothing is served that nothing links to (but the page itself).
    for path in served {
        assert!(path == "/" || linked.contains(path), "{path} is unused");
    }
}

#[test]
fn no_script_writes_html_or_evaluates_strings() {
    for asset in scripts() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute(\"style\"",
        ] {
            assert!(!text(asset).contains(sink), "{} uses {sink}", asset.path);
        }
    }
}

#[test]
fn the_html_has_no_inline_script_style_or_handler() {
    let html = text(&ASSETS[0]);
    assert_eq!(ASSETS[0].path, "/");

    for (at, _) in html.match_indices("<script") {
        let tag = &html[at..at + html[at..].find('>').expect("a closing >")];
        assert!(tag.contains(" src=\""), "inline script: {tag}");
    }
    for inline in [
        "<style",
        " style=\"",
        " onclick=",
        " onload=",
        " onerror=",
        "javascript:",
    ] {
        assert!(!html.contains(inline), "{inline}");
    }
}
