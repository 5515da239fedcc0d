//! The optional bearer token: every route but `/healthy` and the page's
//! files (`/`, `/ui/app.js`, `/ui/app.css`) needs it.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The expected token, kept as its SHA-256 digest: comparing digests of equal
/// length in constant time tells an attacker neither the token's bytes nor its
/// length.
pub struct BearerToken {
    digest: [u8; 32],
}

impl BearerToken {
    /// The token a request must present.
    pub fn new(token: &Secret) -> BearerToken {
        BearerToken {
            digest: Sha256::digest(token.expose().as_bytes()).into(),
        }
    }

    /// Whether `headers` carry `Authorization: Bearer <the token>`.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()))
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(given).into();
        bool::from(digest.ct_eq(&self.digest))
    }
}

/// The credentials of a `Bearer` authorization (the scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_exact_token_with_the_bearer_scheme_is_allowed() {
        let token = BearerToken::new(&Secret::new("s3cret-token"));
        assert!(token.allows(&headers("Bearer s3cret-token")));
        assert!(token.allows(&headers("bearer s3cret-token")));
        for wrong in [
            "Bearer s3cret-toke",
            "Bearer s3cret-token2",
            "Bearer S3CRET-TOKEN",
            "Bearer ",
            "Basic s3cret-token",
            "s3cret-token",
            "Bearers3cret-token",
        ] {
            assert!(!token.allows(&headers(wrong)), "{wrong}");
        }
        assert!(!token.allows(&HeaderMap::new()));
    }
}
