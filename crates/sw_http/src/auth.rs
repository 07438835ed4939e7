//! Who may ask: the bind rule (loopback, or a bearer token) and the token check.
//!
//! The token is kept only as its SHA-256 digest, and a presented token is hashed and compared
//! with the digest in constant time, so neither the token's content nor its length leaks
//! through timing, and the token itself is not held anywhere it could be printed from.
//!
//! Owns: [`bearer_token_for`] (the bind rule), [`BearerToken`] and the `Authorization` header's
//! parsing. Does not own: reading the token file (the config) or which routes need the token
//! (`server`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use sw_core::Secret;

use crate::HttpError;

/// Shortest token accepted: 16 characters, about 95 bits when random hex or base64.
pub(crate) const MIN_TOKEN_CHARS: usize = 16;

/// A bearer token, as its SHA-256 digest.
pub(crate) struct BearerToken {
    digest: [u8; 32],
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

/// True for 127.0.0.0/8, `::1` and IPv4-mapped loopback (`::ffff:127.0.0.1`).
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The token to require for a server bound to `bind`: a loopback bind may go without one;
/// any other address (the unspecified `0.0.0.0` and `[::]` included) must have one.
pub(crate) fn bearer_token_for(
    bind: SocketAddr,
    token: Option<&Secret>,
) -> Result<Option<BearerToken>, HttpError> {
    match token {
        Some(token) => BearerToken::new(token).map(Some),
        None if is_loopback(bind.ip()) => Ok(None),
        None => Err(HttpError::TokenRequired { bind }),
    }
}

impl BearerToken {
    /// Checks that `token` can travel in a header and is long enough; errors never show it.
    fn new(token: &Secret) -> Result<Self, HttpError> {
        let text = token.expose();
        if let Some(position) = text.chars().position(|c| !c.is_ascii_graphic()) {
            return Err(HttpError::TokenCharacter { position });
        }
        if text.len() < MIN_TOKEN_CHARS {
            return Err(HttpError::TokenTooShort {
                length: text.len(),
                minimum: MIN_TOKEN_CHARS,
            });
        }
        Ok(Self {
            digest: Sha256::digest(text.as_bytes()).into(),
        })
    }

    /// Whether an `Authorization` header value (if any) is `Bearer <this token>`. The scheme is
    /// matched without regard to case (RFC 9110, 11.1).
    pub(crate) fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some((scheme, presented)) = authorization.and_then(|value| value.split_once(' '))
        else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let presented = Sha256::digest(presented.trim_start_matches(' ').as_bytes());
        presented.as_slice().ct_eq(&self.digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_binds_need_no_token_and_others_do() {
        // bind, whether it starts without a token
        let table = [
            ("127.0.0.1:0", true),
            ("127.8.9.10:80", true),
            ("[::1]:0", true),
            ("[::ffff:127.0.0.1]:0", true),
            ("0.0.0.0:0", false),
            ("[::]:0", false),
            ("192.168.1.20:9464", false),
            ("[::ffff:10.0.0.1]:0", false),
        ];
        for (bind, starts) in table {
            let result = bearer_token_for(addr(bind), None);
            assert_eq!(result.is_ok(), starts, "{bind}");
            let token = Secret::new(TOKEN);
            assert!(bearer_token_for(addr(bind), Some(&token)).is_ok(), "{bind}");
        }
    }

    #[test]
    fn weak_or_unsendable_tokens_are_refused_without_showing_them() {
        // token, expected error text
        let table = [
            ("short-secret", "12 characters long; use at least 16"),
            (
                "has a space in the middle",
                "not visible ASCII (position 3)",
            ),
            ("trailing-newline-0123\n", "not visible ASCII (position 21)"),
            ("ünïcode-0123456789", "not visible ASCII (position 0)"),
        ];
        for (token, expected) in table {
            let error = bearer_token_for(addr("0.0.0.0:0"), Some(&Secret::new(token))).unwrap_err();
            let text = error.to_string();
            assert!(text.contains(expected), "{token:?}: {text}");
            assert!(!text.contains(token.trim()), "{text}");
        }
    }

    #[test]
    fn only_the_exact_token_after_bearer_is_accepted() {
        let token = bearer_token_for(addr("0.0.0.0:0"), Some(&Secret::new(TOKEN)))
            .unwrap()
            .unwrap();
        // Authorization header, accepted
        let table = [
            (Some(format!("Bearer {TOKEN}")), true),
            (Some(format!("bearer {TOKEN}")), true),
            (Some(format!("BEARER  {TOKEN}")), true),
            (None, false),
            (Some(String::new()), false),
            (Some(TOKEN.to_owned()), false),
            (Some(format!("Basic {TOKEN}")), false),
            (Some(format!("Bearer {TOKEN}x")), false),
            (Some(format!("Bearer {}", &TOKEN[1..])), false),
            (Some("Bearer ".to_owned()), false),
        ];
        for (header, accepted) in table {
            assert_eq!(token.accepts(header.as_deref()), accepted, "{header:?}");
        }
        assert_eq!(format!("{token:?}"), "BearerToken(***)");
    }
}
