//! Which mount a request URI names: vendor paths and their query strings.
//!
//! Owns: parsing a configured mount path (`/cam/realmonitor?channel=1&subtype=0`) and matching
//! a request (`rtsp://h:p/cam/realmonitor?channel=1&subtype=0&unicast=true/stream=0`) against
//! the configured mounts. Does not own: the GStreamer mount points (one factory per distinct
//! path is registered there; they all defer to this matching).
//!
//! gst-rtsp-server matches on the path alone, and a mount path containing `?` fails at PLAY, so
//! Dahua-style mounts are registered without their query and told apart here.

/// A configured mount: a path and the query parameters a request must carry (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountPath {
    pub base: String,
    pub query: Vec<(String, String)>,
}

impl MountPath {
    /// Parses `/a/b` or `/a/b?k=v&k2=v2`.
    pub fn parse(path: &str) -> Result<Self, String> {
        let (base, query) = match path.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (path, None),
        };
        if !base.starts_with('/') {
            return Err("must start with '/'".to_owned());
        }
        if base.len() > 1 && base.ends_with('/') {
            return Err("must not end with '/'".to_owned());
        }
        if let Some(bad) = path
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '#')
        {
            return Err(format!("contains {bad:?}"));
        }
        let mut params = match query {
            Some(query) => parse_query(query)?,
            None => Vec::new(),
        };
        params.sort();
        if params.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err("repeats a query parameter".to_owned());
        }
        Ok(Self {
            base: base.to_owned(),
            query: params,
        })
    }
}

fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key.is_empty() || key.contains('/') || value.contains('/') {
                Err(format!("bad query parameter {pair:?}"))
            } else {
                Ok((key.to_owned(), value.to_owned()))
            }
        })
        .collect()
}

/// `/p?q` from `rtsp://host:port/p?q` (a bare `/p?q` is returned as is).
fn strip_scheme(uri: &str) -> &str {
    match uri.find("://") {
        Some(at) => {
            let rest = &uri[at + 3..];
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        None => uri,
    }
}

/// Splits a request URI (absolute `rtsp://host:port/p?q` or just `/p?q`) into its path and
/// query parameters. A control suffix that clients append after the query
/// (`?channel=1/stream=0`) is cut off.
pub(crate) fn split_request(uri: &str) -> (&str, Vec<(&str, &str)>) {
    let without_scheme = strip_scheme(uri);
    let (path, query) = match without_scheme.split_once('?') {
        Some((path, query)) => (path, query.split('/').next().unwrap_or_default()),
        None => (without_scheme, ""),
    };
    let params = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    (path, params)
}

/// The path gst-rtsp-server should look streams up by: the request path without its query, with
/// a control suffix that a client appended after the query moved onto the path
/// (`/cam/realmonitor?channel=1/stream=0` becomes `/cam/realmonitor/stream=0`).
pub(crate) fn request_path(uri: &str) -> String {
    let without_scheme = strip_scheme(uri);
    match without_scheme.split_once('?') {
        None => without_scheme.to_owned(),
        Some((path, query)) => match query.split_once('/') {
            Some((_, control)) if !control.is_empty() => {
                format!("{}/{control}", path.trim_end_matches('/'))
            }
            _ => path.to_owned(),
        },
    }
}

/// Whether `path` is `base` or a `/`-separated continuation of it.
fn path_under(base: &str, path: &str) -> bool {
    base == "/"
        || path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

/// Whether a request (path and query parameters) falls under `mount`: its path is under the
/// mount's (SETUP adds `/stream=0`) and it carries the mount's
/// query parameters.
fn matches(mount: &MountPath, path: &str, params: &[(&str, &str)]) -> bool {
    path_under(&mount.base, path)
        && mount
            .query
            .iter()
            .all(|(key, value)| params.contains(&(key.as_str(), value.as_str())))
}

/// The index of the mount a request names: among the mounts it falls under, the longest path,
/// then the most query parameters.
pub(crate) fn resolve<'a>(
    mounts: impl IntoIterator<Item = &'a MountPath>,
    request_uri: &str,
) -> Option<usize> {
    let (path, params) = split_request(request_uri);
    mounts
        .into_iter()
        .enumerate()
        .filter(|(_, mount)| matches(mount, path, &params))
        .max_by_key(|(_, mount)| (mount.base.len(), mount.query.len()))
        .map(|(index, _)| index)
}

/// Whether a request on a connection that described `mount` continues with it: gst-rtsp-server
/// drops the query from the Content-Base, so a SETUP or PLAY after a Dahua-style DESCRIBE
/// arrives without one.
pub(crate) fn continues(mount: &MountPath, request_uri: &str) -> bool {
    let (path, params) = split_request(request_uri);
    params.is_empty() && path_under(&mount.base, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_mount_paths() {
        let ok = [
            ("/Streaming/Channels/101", "/Streaming/Channels/101", vec![]),
            (
                "/cam/realmonitor?subtype=1&channel=2",
                "/cam/realmonitor",
                vec![("channel", "2"), ("subtype", "1")],
            ),
            ("/live?flag", "/live", vec![("flag", "")]),
        ];
        for (input, base, query) in ok {
            let parsed = MountPath::parse(input).unwrap();
            assert_eq!(parsed.base, base, "{input}");
            let query: Vec<(String, String)> = query
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(parsed.query, query, "{input}");
        }
        let bad = [
            "Streaming/101",
            "/a/",
            "/a b",
            "/a#frag",
            "/a?x=1&x=2",
            "/a?=1",
            "/a?x=1/2",
        ];
        for input in bad {
            assert!(MountPath::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn split_request_uris() {
        let table = [
            (
                "rtsp://127.0.0.1:8554/Streaming/Channels/101",
                "/Streaming/Channels/101",
                vec![],
            ),
            (
                "rtsp://h:1/cam/realmonitor?channel=1&subtype=0/stream=0",
                "/cam/realmonitor",
                vec![("channel", "1"), ("subtype", "0")],
            ),
            ("/a/b?x", "/a/b", vec![("x", "")]),
            ("rtsp://host", "/", vec![]),
        ];
        for (uri, path, params) in table {
            assert_eq!(split_request(uri), (path, params), "{uri}");
        }
    }

    #[test]
    fn request_paths_keep_the_control_and_drop_the_query() {
        let table = [
            (
                "rtsp://h:1/Streaming/Channels/101",
                "/Streaming/Channels/101",
            ),
            (
                "rtsp://h:1/Streaming/Channels/101/stream=0",
                "/Streaming/Channels/101/stream=0",
            ),
            (
                "rtsp://h:1/Streaming/Channels/101?transportmode=unicast",
                "/Streaming/Channels/101",
            ),
            (
                "rtsp://h:1/cam/realmonitor?channel=1&subtype=0/stream=0",
                "/cam/realmonitor/stream=0",
            ),
            (
                "rtsp://h:1/cam/realmonitor/stream=0?channel=1&subtype=0",
                "/cam/realmonitor/stream=0",
            ),
            (
                "rtsp://h:1/cam/realmonitor?channel=1&subtype=0/",
                "/cam/realmonitor",
            ),
        ];
        for (uri, expected) in table {
            assert_eq!(request_path(uri), expected, "{uri}");
        }
    }

    #[test]
    fn continuing_a_described_mount() {
        let dahua = MountPath::parse("/cam/realmonitor?channel=1&subtype=1").unwrap();
        let table = [
            ("rtsp://h:1/cam/realmonitor/stream=0", true),
            ("rtsp://h:1/cam/realmonitor/", true),
            ("rtsp://h:1/cam/realmonitor?channel=2&subtype=0", false),
            ("rtsp://h:1/cam/other", false),
        ];
        for (uri, expected) in table {
            assert_eq!(continues(&dahua, uri), expected, "{uri}");
        }
    }

    #[test]
    fn resolve_requests() {
        let mounts: Vec<MountPath> = [
            "/Streaming/Channels/101",
            "/Streaming/Channels/102",
            "/cam/realmonitor?channel=1&subtype=0",
            "/cam/realmonitor?channel=1&subtype=1",
            "/cam/realmonitor",
            "/a",
            "/a/b",
        ]
        .iter()
        .map(|path| MountPath::parse(path).unwrap())
        .collect();
        let table = [
            ("rtsp://h:1/Streaming/Channels/101", Some(0)),
            ("rtsp://h:1/Streaming/Channels/101/stream=0", Some(0)),
            (
                "rtsp://h:1/Streaming/Channels/101?transportmode=unicast",
                Some(0),
            ),
            ("rtsp://h:1/Streaming/Channels/102", Some(1)),
            ("rtsp://h:1/Streaming/Channels/1011", None),
            ("rtsp://h:1/Streaming/Channels", None),
            ("rtsp://h:1/cam/realmonitor?channel=1&subtype=0", Some(2)),
            (
                "rtsp://h:1/cam/realmonitor?subtype=1&channel=1&unicast=true",
                Some(3),
            ),
            (
                "rtsp://h:1/cam/realmonitor?channel=1&subtype=1/stream=0",
                Some(3),
            ),
            ("rtsp://h:1/cam/realmonitor?channel=2&subtype=0", Some(4)),
            ("rtsp://h:1/cam/realmonitor", Some(4)),
            ("rtsp://h:1/a/b/stream=0", Some(6)),
            ("rtsp://h:1/a/c", Some(5)),
            ("rtsp://h:1/other", None),
        ];
        for (uri, expected) in table {
            assert_eq!(resolve(&mounts, uri), expected, "{uri}");
        }
    }
}
