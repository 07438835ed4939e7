//! Per-mount authentication: none, Basic, MD5 Digest (RFC 2617) and SHA-256 Digest (RFC 7616).
//!
//! Owns: the challenge each mount sends with a 401, checking what a client presents, and the
//! `RTSPAuth` subclass that plugs both into gst-rtsp-server. Does not own: deciding which mount
//! a request is for (`rtsp::CamsimClient::mount_of`), refusing requests (a fault, `rtsp`).
//!
//! gst-rtsp-server authenticates DESCRIBE and SETUP (when it looks up the media factory) by
//! calling `authenticate`, and answers 401 with `generate_authenticate_header`; this subclass
//! overrides both and keeps the parent's `check`:
//!
//! - Basic: checked here.
//! - MD5 Digest: GStreamer's own implementation (the parent's `authenticate`, with every MD5
//!   mount's user added by `add_digest`); its token names the user, and the user must be the
//!   mount's. Users are server-wide there, so MD5 mounts that share a user name must share its
//!   password (checked at start).
//! - SHA-256 Digest, which GStreamer 1.22 lacks: challenge, nonces and the response are
//!   computed here. Two gaps in gstreamer-rs 0.25 are bridged: `RTSPAuthParam::name/value`
//!   exist in gstreamer-rtsp's source but that module is never compiled, so [`param_pair`]
//!   reads the two C strings itself (this crate's only `unsafe`); and `RTSPContext` does not
//!   expose the request method, so the client marks a DESCRIBE in `pre_describe_request`
//!   (which runs before authentication) and any other authenticated request is a SETUP
//!   (`pre_setup_request` only runs after authentication).

use std::collections::VecDeque;
use std::ffi::CStr;
use std::sync::{Mutex, OnceLock};

use gst::glib;
use gst_rtsp_server::gst_rtsp::rtsp_message::RTSPMessage;
use gst_rtsp_server::gst_rtsp::{self, RTSPAuthMethod, RTSPAuthParam, RTSPHeaderField};
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;
use gst_rtsp_server::{RTSPAuth, RTSPContext, RTSPToken};

use crate::mount::{MountTable, lock};
use crate::options::AuthOptions;
use crate::rtsp::CamsimClient;
use sw_core::Credentials;

/// The realm every mount announces.
pub(crate) const REALM: &str = "camsim";

/// The media-factory role a successful authentication grants (every factory allows it).
pub(crate) const VIEWER_ROLE: &str = "camsim-viewer";

/// Token field naming the MD5 Digest user GStreamer authenticated.
const USER_FIELD: &str = "camsim.user";

/// How many issued SHA-256 nonces are remembered; older ones are rejected (the client retries).
const NONCES_KEPT: usize = 256;

fn sha256_hex(text: &str) -> String {
    glib::compute_checksum_for_string(glib::ChecksumType::Sha256, text)
        .map(String::from)
        .unwrap_or_default()
}

/// What a client put in its `Authorization` header(s).
#[derive(Debug, Clone, PartialEq)]
enum Presented {
    /// The base64 `user:password` token.
    Basic(String),
    /// Digest parameters, names as sent, values unquoted.
    Digest(Vec<(String, String)>),
}

/// Inputs of a SHA-256 digest `response` with `qop=auth` (RFC 7616 section 3.4.1).
#[derive(Debug)]
struct DigestInput<'a> {
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    method: &'a str,
    uri: &'a str,
    nonce: &'a str,
    nc: &'a str,
    cnonce: &'a str,
}

fn digest_response(input: &DigestInput<'_>) -> String {
    let ha1 = sha256_hex(&format!(
        "{}:{}:{}",
        input.username, input.realm, input.password
    ));
    let ha2 = sha256_hex(&format!("{}:{}", input.method, input.uri));
    sha256_hex(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        input.nonce, input.nc, input.cnonce
    ))
}

/// The `WWW-Authenticate` value of a 401 for a Basic or SHA-256 Digest mount (MD5 Digest
/// challenges come from GStreamer).
fn challenge(auth: &AuthOptions, issue_nonce: impl FnOnce() -> String) -> Option<String> {
    match auth {
        AuthOptions::Basic(_) => Some(format!("Basic realm=\"{REALM}\"")),
        AuthOptions::DigestSha256(_) => Some(format!(
            "Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=SHA-256, qop=\"auth\"",
            issue_nonce()
        )),
        AuthOptions::None | AuthOptions::DigestMd5(_) => None,
    }
}

/// Whether a presented credential satisfies a Basic or SHA-256 mount (`None`: anything does).
/// `method` is the request's RTSP method; `nonce_known` says whether this server issued a nonce.
fn verify(
    auth: &AuthOptions,
    presented: &[Presented],
    method: &str,
    nonce_known: impl Fn(&str) -> bool,
) -> bool {
    match auth {
        AuthOptions::None => true,
        AuthOptions::Basic(credentials) => {
            let expected = basic_token(credentials);
            presented
                .iter()
                .any(|p| matches!(p, Presented::Basic(token) if *token == expected))
        }
        AuthOptions::DigestSha256(credentials) => presented.iter().any(|p| match p {
            Presented::Digest(params) => verify_sha256(credentials, params, method, &nonce_known),
            Presented::Basic(_) => false,
        }),
        // Checked by GStreamer, see `imp::CamsimAuth::authenticate`.
        AuthOptions::DigestMd5(_) => false,
    }
}

fn verify_sha256(
    credentials: &Credentials,
    params: &[(String, String)],
    method: &str,
    nonce_known: &impl Fn(&str) -> bool,
) -> bool {
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let (
        Some(algorithm),
        Some(qop),
        Some(nc),
        Some(cnonce),
        Some(username),
        Some(realm),
        Some(nonce),
        Some(uri),
        Some(response),
    ) = (
        param("algorithm"),
        param("qop"),
        param("nc"),
        param("cnonce"),
        param("username"),
        param("realm"),
        param("nonce"),
        param("uri"),
        param("response"),
    )
    else {
        // RFC 7616 makes qop mandatory, and the algorithm must be named.
        return false;
    };
    if !algorithm.eq_ignore_ascii_case("SHA-256")
        || !qop.eq_ignore_ascii_case("auth")
        || username != credentials.username
        || realm != REALM
        || !nonce_known(nonce)
    {
        return false;
    }
    let expected = digest_response(&DigestInput {
        username,
        realm,
        password: credentials.password.expose(),
        method,
        uri,
        nonce,
        nc,
        cnonce,
    });
    expected.eq_ignore_ascii_case(response)
}

fn basic_token(credentials: &Credentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password.expose());
    glib::base64_encode(pair.as_bytes()).into()
}

fn presented_credentials(request: &RTSPMessage) -> Vec<Presented> {
    request
        .parse_auth_credentials()
        .iter()
        .filter_map(|credential| match credential.scheme() {
            RTSPAuthMethod::Basic => credential
                .authorization()
                .map(|token| Presented::Basic(token.to_owned())),
            RTSPAuthMethod::Digest => Some(Presented::Digest(
                credential.params().iter().filter_map(param_pair).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// A Digest parameter's name and value. gstreamer-rtsp 0.25 defines `RTSPAuthParam::name()`
/// and `value()` in `src/rtsp_auth_param.rs` but never declares that module, and offers no
/// other way to read a parameter or the raw `Authorization` header; this does what those two
/// accessors do.
#[allow(unsafe_code)]
fn param_pair(param: &RTSPAuthParam) -> Option<(String, String)> {
    use glib::translate::ToGlibPtr;
    let raw: *const gst_rtsp::ffi::GstRTSPAuthParam = param.to_glib_none().0;
    // SAFETY: `raw` points to the live GstRTSPAuthParam that `param` borrows for this whole
    // call. Its `name` and `value` are NULL or NUL-terminated strings owned by it; both are
    // checked for NULL and copied into owned Strings before the borrow ends.
    unsafe {
        let (name, value) = ((*raw).name, (*raw).value);
        if name.is_null() || value.is_null() {
            return None;
        }
        Some((
            CStr::from_ptr(name).to_str().ok()?.to_owned(),
            CStr::from_ptr(value).to_str().ok()?.to_owned(),
        ))
    }
}

/// Random nonces this server issued for SHA-256 challenges, newest last.
#[derive(Debug, Default)]
struct NonceStore {
    issued: Mutex<VecDeque<String>>,
}

impl NonceStore {
    fn issue(&self) -> String {
        let nonce: String = (0..4)
            .map(|_| format!("{:08x}", glib::random_int()))
            .collect();
        let mut issued = lock(&self.issued);
        if issued.len() == NONCES_KEPT {
            issued.pop_front();
        }
        issued.push_back(nonce.clone());
        nonce
    }

    fn knows(&self, nonce: &str) -> bool {
        let issued = lock(&self.issued);
        issued.iter().any(|known| known == nonce)
    }
}

/// The token a client gets once it may watch (or when its mount needs no auth).
fn viewer_token() -> RTSPToken {
    RTSPToken::builder()
        .field(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, VIEWER_ROLE)
        .build()
}

glib::wrapper! {
    /// gst-rtsp-server authentication with a scheme per mount.
    pub(crate) struct CamsimAuth(ObjectSubclass<imp::CamsimAuth>) @extends RTSPAuth;
}

impl CamsimAuth {
    /// Registers every MD5 Digest mount's user with GStreamer.
    pub fn new(mounts: &MountTable) -> Self {
        let auth: Self = glib::Object::new();
        for mount in mounts.iter() {
            if let AuthOptions::DigestMd5(credentials) = &mount.auth {
                let token = RTSPToken::builder()
                    .field(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, VIEWER_ROLE)
                    .field(USER_FIELD, credentials.username.as_str())
                    .build();
                auth.add_digest(&credentials.username, credentials.password.expose(), &token);
            }
        }
        // Only what the parent challenges with (MD5 mounts); the others challenge here.
        auth.set_supported_methods(RTSPAuthMethod::Digest);
        auth
    }
}

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct CamsimAuth {
        nonces: NonceStore,
        viewer: OnceLock<RTSPToken>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CamsimAuth {
        const NAME: &'static str = "SwCamsimAuth";
        type Type = super::CamsimAuth;
        type ParentType = RTSPAuth;
    }

    impl ObjectImpl for CamsimAuth {}

    impl CamsimAuth {
        /// Gives the request the viewer token. `gst_rtsp_context_set_token` takes its own
        /// reference while gstreamer-rs hands it one more, so one shared token is reused rather
        /// than a new one leaked per request.
        fn grant(&self, ctx: &RTSPContext) {
            ctx.set_token(self.viewer.get_or_init(viewer_token).clone());
        }

        fn auth_of(&self, ctx: &RTSPContext) -> Option<(String, AuthOptions)> {
            let client = ctx.client()?.downcast_ref::<CamsimClient>()?;
            let mount = client.mount_of(ctx)?;
            Some((mount.path.clone(), mount.auth.clone()))
        }
    }

    impl RTSPAuthImpl for CamsimAuth {
        /// `false` makes the parent's check answer 401 with our challenge.
        fn authenticate(&self, ctx: &RTSPContext) -> bool {
            let client = ctx
                .client()
                .and_then(|client| client.downcast_ref::<CamsimClient>());
            let method = if client.is_some_and(CamsimClient::take_describe_pending) {
                "DESCRIBE"
            } else {
                "SETUP"
            };
            match self.auth_of(ctx) {
                Some((_, AuthOptions::DigestMd5(credentials))) => {
                    // Sets the token of the user it authenticated, if any.
                    self.parent_authenticate(ctx);
                    let user = ctx.token().and_then(|token| token.string(USER_FIELD));
                    user.as_deref() == Some(credentials.username.as_str())
                }
                Some((path, auth)) => {
                    let presented = ctx.request().map(presented_credentials).unwrap_or_default();
                    let granted =
                        verify(&auth, &presented, method, |nonce| self.nonces.knows(nonce));
                    if granted {
                        self.grant(ctx);
                    } else if !presented.is_empty() {
                        tracing::info!(mount = %path, method, "camsim: credentials rejected");
                    }
                    granted
                }
                // A request for no known mount passes here and is answered 404 later.
                None => {
                    self.grant(ctx);
                    true
                }
            }
        }

        fn generate_authenticate_header(&self, ctx: &RTSPContext) {
            let Some((_, auth)) = self.auth_of(ctx) else {
                return;
            };
            if let AuthOptions::DigestMd5(_) = auth {
                self.parent_generate_authenticate_header(ctx);
            } else if let (Some(challenge), Some(response)) =
                (challenge(&auth, || self.nonces.issue()), ctx.response())
            {
                response.add_header(RTSPHeaderField::WwwAuthenticate, &challenge);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sw_core::Secret;

    fn credentials(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_owned(),
            password: Secret::new(password),
        }
    }

    #[test]
    fn digest_response_matches_rfc7616_example() {
        // RFC 7616 section 3.9.1, SHA-256.
        let input = DigestInput {
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        };
        assert_eq!(
            digest_response(&input),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn basic_token_is_base64_of_user_colon_password() {
        // RFC 7617 section 2.
        assert_eq!(
            basic_token(&credentials("Aladdin", "open sesame")),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn challenges_per_scheme() {
        let user = credentials("admin", "pw");
        let table = [
            (AuthOptions::None, None),
            (AuthOptions::DigestMd5(user.clone()), None),
            (
                AuthOptions::Basic(user.clone()),
                Some("Basic realm=\"camsim\""),
            ),
            (
                AuthOptions::DigestSha256(user),
                Some("Digest realm=\"camsim\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\""),
            ),
        ];
        for (auth, expected) in table {
            let got = challenge(&auth, || "n1".to_owned());
            assert_eq!(got.as_deref(), expected, "{auth:?}");
        }
    }

    /// SHA-256 Digest parameters as a client would send them; `edit` spoils one.
    fn sha256_params(
        password: &str,
        method: &str,
        edit: fn(&mut Vec<(String, String)>),
    ) -> Presented {
        let uri = "rtsp://127.0.0.1:8554/Streaming/Channels/101";
        let response = digest_response(&DigestInput {
            username: "admin",
            realm: REALM,
            password,
            method,
            uri,
            nonce: "n1",
            nc: "00000001",
            cnonce: "c0ffee",
        });
        let mut params: Vec<(String, String)> = [
            ("username", "admin"),
            ("realm", REALM),
            ("nonce", "n1"),
            ("uri", uri),
            ("response", response.as_str()),
            ("algorithm", "SHA-256"),
            ("qop", "auth"),
            ("nc", "00000001"),
            ("cnonce", "c0ffee"),
        ]
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
        edit(&mut params);
        Presented::Digest(params)
    }

    #[test]
    fn verify_accepts_only_the_right_answer() {
        let user = credentials("admin", "right");
        let basic = AuthOptions::Basic(user.clone());
        let sha = AuthOptions::DigestSha256(user.clone());
        let good_basic = Presented::Basic(basic_token(&user));
        let bad_basic = Presented::Basic(basic_token(&credentials("admin", "wrong")));
        let unchanged: fn(&mut Vec<(String, String)>) = |_| {};
        let table = [
            ("no auth needs nothing", AuthOptions::None, vec![], true),
            ("basic right", basic.clone(), vec![good_basic.clone()], true),
            ("basic wrong", basic.clone(), vec![bad_basic], false),
            ("basic missing", basic, vec![], false),
            (
                "basic on a digest mount",
                sha.clone(),
                vec![good_basic],
                false,
            ),
            (
                "sha right",
                sha.clone(),
                vec![sha256_params("right", "DESCRIBE", unchanged)],
                true,
            ),
            (
                "sha wrong password",
                sha.clone(),
                vec![sha256_params("wrong", "DESCRIBE", unchanged)],
                false,
            ),
            (
                "sha other method",
                sha.clone(),
                vec![sha256_params("right", "SETUP", unchanged)],
                false,
            ),
            (
                "sha without qop",
                sha.clone(),
                vec![sha256_params("right", "DESCRIBE", |p| {
                    p.retain(|(k, _)| k != "qop")
                })],
                false,
            ),
            (
                "sha named MD5",
                sha.clone(),
                vec![sha256_params("right", "DESCRIBE", |p| {
                    p[5].1 = "MD5".to_owned()
                })],
                false,
            ),
            (
                "sha other realm",
                sha.clone(),
                vec![sha256_params("right", "DESCRIBE", |p| {
                    p[1].1 = "x".to_owned()
                })],
                false,
            ),
            (
                "sha unknown nonce",
                sha,
                vec![sha256_params("right", "DESCRIBE", |p| {
                    p[2].1 = "n2".to_owned()
                })],
                false,
            ),
        ];
        for (name, auth, presented, expected) in table {
            let got = verify(&auth, &presented, "DESCRIBE", |nonce| nonce == "n1");
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn nonce_store_forgets_the_oldest() {
        let store = NonceStore::default();
        let first = store.issue();
        assert!(store.knows(&first));
        assert!(!store.knows("feedface"));
        for _ in 0..NONCES_KEPT {
            store.issue();
        }
        assert!(!store.knows(&first));
    }
}
