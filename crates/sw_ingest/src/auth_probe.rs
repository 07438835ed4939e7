//! Why a camera refused us: after `rtspsrc` reports 401, one bare `DESCRIBE` (no credentials)
//! reads the camera's `WWW-Authenticate` challenges, to tell "wrong password" from "this camera
//! demands SHA-256 Digest", which GStreamer 1.22's RTSP library cannot answer at all (the
//! supervisor then moves the camera to the retina client, unless rtspsrc was asked for).
//!
//! Owns: that single request over plain TCP with short timeouts, reading the challenges, and the
//! sentence that explains a refusal. Does not own: authenticating (rtspsrc and retina do), or
//! choosing the client (`supervisor`). `rtsps://` is not probed (no TLS here); the reason then
//! stays the plain one.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::live::authority_of;

/// Each step of the probe (connect, write, read) waits at most this long.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Response headers larger than this are not read further.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;
const DEFAULT_RTSP_PORT: u16 = 554;

/// What was known when the camera refused us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) credentials_given: bool,
    /// The probe found the camera demands SHA-256 Digest (only asked when rtspsrc was refused).
    pub(crate) sha256_only: bool,
}

/// Whether the camera at `url` demands SHA-256 Digest and offers nothing rtspsrc can answer.
/// One bare DESCRIBE; false when the camera cannot be asked.
pub(crate) fn demands_sha256_digest(url: &str) -> bool {
    demands_sha256_only(&fetch_challenges(url).unwrap_or_default())
}

/// A sentence for status and logs saying why the camera refused us.
pub(crate) fn auth_failure_reason(refusal: Refusal) -> String {
    if !refusal.credentials_given {
        "the camera requires a user name and password (401 Unauthorized), and none is configured"
            .to_owned()
    } else if refusal.sha256_only {
        "the camera demands SHA-256 Digest authentication (401), which GStreamer's RTSP client \
         (rtspsrc 1.22: Basic and MD5 Digest only) cannot answer; the retina RTSP client can \
         (rtsp_client \"retina\", or \"auto\" on a plain rtsp:// URL: it has no TLS), or allow \
         MD5 Digest on the camera"
            .to_owned()
    } else {
        "the camera refused the user name or password (401 Unauthorized)".to_owned()
    }
}

/// True when the camera offered challenges and none is one rtspsrc can answer (Basic, or
/// Digest with MD5 or no algorithm named).
fn demands_sha256_only(challenges: &[String]) -> bool {
    let answerable = |challenge: &String| {
        let (scheme, params) = challenge
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((challenge.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return true;
        }
        scheme.eq_ignore_ascii_case("digest")
            && digest_algorithm(params)
                .is_none_or(|algorithm| algorithm.eq_ignore_ascii_case("MD5"))
    };
    let sha256 = |challenge: &String| {
        challenge
            .split_once(char::is_whitespace)
            .and_then(|(_, params)| digest_algorithm(params))
            .is_some_and(|algorithm| algorithm.to_ascii_uppercase().starts_with("SHA-256"))
    };
    !challenges.is_empty() && !challenges.iter().any(answerable) && challenges.iter().any(sha256)
}

/// The `algorithm` parameter of a Digest challenge, quotes removed.
fn digest_algorithm(params: &str) -> Option<&str> {
    params.split(',').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("algorithm")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The `WWW-Authenticate` values of a bare DESCRIBE of `url`; `None` if there is no answer.
fn fetch_challenges(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("rtsp") {
        return None;
    }
    let authority = authority_of(rest);
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && !port.contains(']'));
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{DEFAULT_RTSP_PORT}")
    };
    let socket = address.to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&socket, PROBE_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).ok()?;
    let request = format!(
        "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\
         User-Agent: stillwatch-auth-probe\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 2048];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") && response.len() < MAX_RESPONSE_BYTES {
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
    }
    Some(challenges_in(&String::from_utf8_lossy(&response)))
}

/// The `WWW-Authenticate` header values of an RTSP response's head.
fn challenges_in(response: &str) -> Vec<String> {
    response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("www-authenticate")
                .then(|| value.trim().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_challenges_are_unanswerable() {
        // challenges, SHA-256 only?
        let cases: [(&[&str], bool); 7] = [
            (
                &["Digest realm=\"cam\", nonce=\"1\", algorithm=SHA-256, qop=\"auth\""],
                true,
            ),
            (
                &["Digest realm=\"cam\", nonce=\"1\", algorithm=\"sha-256-sess\""],
                true,
            ),
            (&["Digest realm=\"cam\", nonce=\"1\""], false),
            (&["Digest realm=\"cam\", nonce=\"1\", algorithm=MD5"], false),
            (&["Basic realm=\"cam\""], false),
            (
                &[
                    "Digest realm=\"cam\", nonce=\"1\", algorithm=SHA-256",
                    "Digest realm=\"cam\", nonce=\"2\", algorithm=MD5",
                ],
                false,
            ),
            (&[], false),
        ];
        for (challenges, expected) in cases {
            let owned: Vec<String> = challenges.iter().map(|c| (*c).to_owned()).collect();
            assert_eq!(demands_sha256_only(&owned), expected, "{challenges:?}");
        }
    }

    #[test]
    fn refusals_read_as_one_sentence() {
        // credentials given, SHA-256 only, reason contains
        let cases = [
            (false, false, "none is configured"),
            (false, true, "none is configured"),
            (true, true, "demands SHA-256 Digest"),
            (true, false, "refused the user name or password"),
        ];
        for (credentials_given, sha256_only, expected) in cases {
            let reason = auth_failure_reason(Refusal {
                credentials_given,
                sha256_only,
            });
            assert!(reason.contains(expected), "{reason}");
        }
    }

    #[test]
    fn challenges_are_read_from_the_response_head() {
        let response = "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\
                        WWW-Authenticate: Digest realm=\"a\", algorithm=SHA-256\r\n\
                        www-authenticate: Basic realm=\"a\"\r\n\r\nWWW-Authenticate: body";
        assert_eq!(
            challenges_in(response),
            ["Digest realm=\"a\", algorithm=SHA-256", "Basic realm=\"a\""]
        );
    }
}
