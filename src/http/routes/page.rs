//! `GET /` and `GET /ui/{asset}`: the browser page, whose files (`src/ui/`)
//! are embedded in the binary; `GET /ui/settings.json`: what the page needs
//! to know of this service (read-only mode, the formats it can use).
//!
//! The page is a client of the API like any other: it holds no data, so its
//! files are served without the bearer token (the page then asks for the
//! token, and every API call, `settings.json` included, needs it). Every
//! file is sent with a Content-Security-Policy that lets the page load
//! scripts, styles and data from this origin only, and nothing inline.

use std::sync::LazyLock;

use bytes::Bytes;
use hyper::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Response, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::HttpResponse;
use crate::codec::Format;
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::response::{json_response, Body};
use crate::http::router::App;

/// Where the page's scripts, styles and requests may come from: this origin
/// only, nothing inline, no frames, no forms posted elsewhere. `data:`
/// images: the page's icon is one, so that the browser asks for no
/// `/favicon.ico`.
pub(crate) const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its name under `/ui/` (`index.html` is served at `/`).
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The page's files. Plain JavaScript and CSS, no framework: the page is a
/// few views over a JSON API, which a hundred lines of DOM helpers serve as
/// well as a library would, and nothing needs building.
const ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../ui/app.css"),
    },
];

/// Each asset's entity tag (a digest of its bytes), computed once: a
/// browser that revalidates gets a 304 and no body.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
        })
        .collect()
});

/// GET /: the page.
pub(crate) fn page(raw_query: Option<&str>, headers: &HeaderMap) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    Ok(serve(0, headers))
}

/// GET /ui/{asset}: one of the page's files; 404 for any other name.
pub(crate) fn asset(
    name: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    let index = ASSETS
        .iter()
        .position(|a| a.name == name && a.name != "index.html")
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no page file '{name}': the page's files are /ui/app.js and /ui/app.css (the page itself is /)"
                ),
            )
        })?;
    Ok(serve(index, headers))
}

/// The asset at `index`, or a 304 when the browser has it already.
fn serve(index: usize, headers: &HeaderMap) -> HttpResponse {
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let cached = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if cached {
        let mut r = Response::new(Body::full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::full(Bytes::from_static(asset.bytes)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        r
    };
    let out = response.headers_mut();
    out.insert(ETAG, etag.clone());
    // Revalidated on every load: a new binary's page is used at once.
    out.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    out.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    out.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SettingsOut {
    /// The crate's version.
    version: &'static str,
    /// Whether writes are refused (the page hides its write forms).
    read_only: bool,
    /// Whether `--schema-registry-url` is set.
    schema_registry: bool,
    /// The (de)serializer names this service can use now: the schema
    /// formats only with a registry.
    formats: Vec<&'static str>,
    /// The largest `limit` a GET may ask.
    max_limit: usize,
}

/// GET /ui/settings.json: what the page adapts to. It needs the token like
/// any API route, so the page also uses it to check a token it was given.
pub(crate) fn settings(app: &App, raw_query: Option<&str>) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    let schema_registry = app.registry.is_some();
    let formats = Format::NAMES
        .into_iter()
        .filter(|name| schema_registry || !Format::parse(name).is_some_and(Format::needs_schema))
        .collect();
    let mut response = json_response(
        StatusCode::OK,
        &SettingsOut {
            version: env!("CARGO_PKG_VERSION"),
            read_only: app.read_only,
            schema_registry,
            formats,
            max_limit: app.limits.limit,
        },
    );
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_refers_only_to_files_that_are_served() {
        let html = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        for reference in ["ui/app.js", "ui/app.css"] {
            assert!(html.contains(reference), "{reference}");
            let name = reference.trim_start_matches("ui/");
            assert!(asset(name, None, &HeaderMap::new()).is_ok(), "{name}");
        }
        // Nothing inline: the policy would block it.
        assert!(!html.contains("<script>"), "inline script");
        assert!(!html.contains("<style"), "inline style");
        assert!(!html.contains(" style="), "inline style attribute");
        assert!(!html.contains(" onclick="), "inline handler");
    }

    #[test]
    fn a_known_etag_gets_a_304_without_a_body() {
        let first = page(None, &HeaderMap::new()).unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(
            first.headers()[CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY_VALUE
        );
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, first.headers()[ETAG].clone());
        let again = page(None, &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.body().data_len(), 0);
    }

    #[test]
    fn unknown_files_and_parameters_are_refused() {
        for name in ["index.html", "../Cargo.toml", "app.js.map"] {
            let Err(e) = asset(name, None, &HeaderMap::new()) else {
                panic!("{name} is served");
            };
            assert_eq!(e.status, StatusCode::NOT_FOUND, "{name}");
        }
        let Err(e) = page(Some("topic=x"), &HeaderMap::new()) else {
            panic!("a query is accepted");
        };
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
