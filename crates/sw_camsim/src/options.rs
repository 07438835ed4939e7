//! What a simulated fleet looks like: the options a caller (a test, `stillwatch camsim`) fills in.
//!
//! Owns: the public option types, the secret type for passwords, and their validation (sizes,
//! rates, mount paths). Does not own: parsing a config file (the CLI maps its own config onto
//! these types) or anything that touches GStreamer.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use sw_core::Credentials;

use crate::error::CamsimError;
use crate::route::MountPath;

/// The whole simulator: one RTSP server, one port, many mounts.
#[derive(Debug, Clone)]
pub struct CamsimOptions {
    /// Address to listen on (default 127.0.0.1: the simulator is a test tool).
    pub bind_address: IpAddr,
    /// TCP port; 0 picks a free one (read it back with [`crate::Simulator::port`]).
    pub port: u16,
    pub mounts: Vec<MountOptions>,
}

impl Default for CamsimOptions {
    fn default() -> Self {
        Self {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            mounts: Vec::new(),
        }
    }
}

/// One simulated camera stream.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Vendor-style path, optionally with a query string:
    /// `/Streaming/Channels/101` (Hikvision main stream), `/Streaming/Channels/102` (sub),
    /// `/cam/realmonitor?channel=1&subtype=0` (Dahua). A query selects between mounts that share
    /// a path; a request may carry extra query parameters (`&unicast=true`) and still match.
    pub path: String,
    pub source: SourceOptions,
    pub codec: Codec,
    /// Frame size served. `None`: the source's own size (synthetic scenes: 640x360). For a file
    /// source, `Some` forces a re-encode at load time.
    pub resolution: Option<Resolution>,
    pub auth: AuthOptions,
    pub faults: FaultOptions,
}

impl MountOptions {
    /// A synthetic H.264 camera at `path`, no auth, no faults: the common case in tests.
    pub fn synthetic(path: impl Into<String>, seed: u64) -> Self {
        Self {
            path: path.into(),
            source: SourceOptions::Synthetic(SyntheticOptions {
                seed,
                ..SyntheticOptions::default()
            }),
            codec: Codec::H264,
            resolution: None,
            auth: AuthOptions::None,
            faults: FaultOptions::default(),
        }
    }
}

/// Video codec served on a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

/// A frame size in pixels. Both sides must be even (4:2:0 chroma) and within 16..=4096.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

impl Resolution {
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    pub(crate) fn validate(self, mount: &str) -> Result<(), CamsimError> {
        let in_range = |side: u32| (16..=4096).contains(&side) && side.is_multiple_of(2);
        if in_range(self.width) && in_range(self.height) {
            Ok(())
        } else {
            Err(CamsimError::InvalidMount {
                path: mount.to_owned(),
                reason: format!(
                    "resolution {}x{} must have even sides within 16..=4096",
                    self.width, self.height
                ),
            })
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Where a mount's pictures come from.
#[derive(Debug, Clone)]
pub enum SourceOptions {
    /// A deterministic scene rendered in Rust: textured background, moving shapes, sensor noise,
    /// an optional lighting change.
    Synthetic(SyntheticOptions),
    /// A video file, looped. H.264/H.265 matching the mount's codec (and no `resolution`) is
    /// served as recorded, without re-encoding; anything else is encoded once, at start.
    File { path: PathBuf },
    /// A folder of numbered images (`in000001.jpg`, `b00000.bmp`, ...; JPEG, PNG or BMP),
    /// looped at `fps`, e.g. a CDnet sequence's `input/` folder.
    ImageSequence { dir: PathBuf, fps: u32 },
}

/// The synthetic scene. Same options, same frames: rendering depends only on the seed and the
/// frame index.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticOptions {
    pub seed: u64,
    pub fps: u32,
    /// Moving rectangles and ellipses (0..=16).
    pub shapes: u32,
    /// Per-pixel sensor noise, uniform in ±this many luma levels (0..=32).
    pub noise_amplitude_luma: u8,
    pub lighting_change: Option<LightingChange>,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            fps: 10,
            shapes: 3,
            noise_amplitude_luma: 3,
            lighting_change: None,
        }
    }
}

/// A global brightness change (lights switched, a cloud): luma moves by `delta_luma`, linearly
/// over `ramp`, starting `at` into the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightingChange {
    pub at: Duration,
    pub ramp: Duration,
    pub delta_luma: i16,
}

/// Who may watch a mount.
#[derive(Debug, Clone, Default)]
pub enum AuthOptions {
    #[default]
    None,
    Basic(Credentials),
    /// RFC 2617 Digest with MD5 (what GStreamer's `rtspsrc` speaks).
    DigestMd5(Credentials),
    /// RFC 7616 Digest with SHA-256 and `qop=auth` (newer Hikvision firmware).
    DigestSha256(Credentials),
}

/// Faults configured up front. The same faults can be injected at run time through
/// [`crate::MountControl`].
#[derive(Debug, Clone, Default)]
pub struct FaultOptions {
    /// Close each client's connection this long after its PLAY.
    pub drop_after: Option<Duration>,
    /// Faults applied once, at a time measured from [`crate::Simulator::start`].
    pub scheduled: Vec<ScheduledFault>,
}

/// A fault applied `after` the simulator started.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFault {
    pub after: Duration,
    pub fault: Fault,
}

/// Something going wrong with a camera.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Keep every connection open but stop sending video (RTCP keeps flowing).
    Stall,
    /// End a stall; video resumes at the next key frame.
    Resume,
    /// Close every connection to the mount.
    DropConnections,
    /// Answer new requests for the mount with `503 Service Unavailable`.
    Refuse,
    /// Undo [`Fault::Refuse`].
    Accept,
    /// A reboot: drop every connection, refuse for `downtime`, then serve a fresh stream.
    Restart { downtime: Duration },
    /// Change the frame size mid-stream (the client sees new caps after the next key frame).
    SwitchResolution(Resolution),
    /// Change the codec, as a camera does after its encoding settings change: every
    /// connection is closed (an RTSP session's SDP fixes its codec) and new ones get the new
    /// codec. Not for file sources (served as recorded).
    SwitchCodec(Codec),
}

impl CamsimOptions {
    /// Checks everything that can be checked without touching files or GStreamer, and parses
    /// each mount path.
    pub(crate) fn validate(&self) -> Result<Vec<MountPath>, CamsimError> {
        if self.mounts.is_empty() {
            return Err(CamsimError::NoMounts);
        }
        let mut routes: Vec<MountPath> = Vec::with_capacity(self.mounts.len());
        for mount in &self.mounts {
            let route =
                MountPath::parse(&mount.path).map_err(|reason| CamsimError::InvalidMount {
                    path: mount.path.clone(),
                    reason,
                })?;
            if routes.contains(&route) {
                return Err(CamsimError::DuplicateMount {
                    path: mount.path.clone(),
                });
            }
            mount.validate()?;
            routes.push(route);
        }
        // GStreamer's MD5 Digest keeps one password per user name for the whole server.
        let mut md5_users: Vec<&Credentials> = Vec::new();
        for mount in &self.mounts {
            if let AuthOptions::DigestMd5(credentials) = &mount.auth {
                let clash = md5_users.iter().any(|known| {
                    known.username == credentials.username && known.password != credentials.password
                });
                if clash {
                    return Err(CamsimError::InvalidMount {
                        path: mount.path.clone(),
                        reason: format!(
                            "MD5 Digest user {:?} has a different password on another mount",
                            credentials.username
                        ),
                    });
                }
                md5_users.push(credentials);
            }
        }
        Ok(routes)
    }
}

impl MountOptions {
    fn validate(&self) -> Result<(), CamsimError> {
        let invalid = |reason: String| CamsimError::InvalidMount {
            path: self.path.clone(),
            reason,
        };
        if let Some(resolution) = self.resolution {
            resolution.validate(&self.path)?;
        }
        let check_fps = |fps: u32| {
            if (1..=120).contains(&fps) {
                Ok(())
            } else {
                Err(invalid(format!("fps {fps} must be within 1..=120")))
            }
        };
        match &self.source {
            SourceOptions::Synthetic(scene) => {
                check_fps(scene.fps)?;
                if scene.shapes > 16 {
                    return Err(invalid(format!("{} shapes; at most 16", scene.shapes)));
                }
                if scene.noise_amplitude_luma > 32 {
                    return Err(invalid(format!(
                        "noise amplitude {} luma levels; at most 32",
                        scene.noise_amplitude_luma
                    )));
                }
            }
            SourceOptions::ImageSequence { fps, .. } => check_fps(*fps)?,
            SourceOptions::File { .. } => {}
        }
        for scheduled in &self.faults.scheduled {
            if let Fault::SwitchResolution(resolution) = scheduled.fault {
                resolution.validate(&self.path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sw_core::Secret;

    use super::*;

    #[test]
    fn resolution_validation() {
        let table = [
            (640, 360, true),
            (16, 16, true),
            (4096, 2160, true),
            (15, 16, false),
            (641, 360, false),
            (8192, 4320, false),
            (0, 0, false),
        ];
        for (width, height, ok) in table {
            let result = Resolution::new(width, height).validate("/m");
            assert_eq!(result.is_ok(), ok, "{width}x{height}");
        }
    }

    #[test]
    fn options_validation() {
        let with = |edit: fn(&mut MountOptions)| {
            let mut mount = MountOptions::synthetic("/Streaming/Channels/101", 7);
            edit(&mut mount);
            CamsimOptions {
                mounts: vec![mount],
                ..CamsimOptions::default()
            }
            .validate()
            .map(|routes| routes.len())
        };
        assert_eq!(with(|_| {}).ok(), Some(1));
        type Edit = fn(&mut MountOptions);
        let failing: [(&str, Edit); 5] = [
            ("no leading slash", |m| m.path = "cam".to_owned()),
            ("zero fps", |m| {
                m.source = SourceOptions::ImageSequence {
                    dir: PathBuf::from("/x"),
                    fps: 0,
                }
            }),
            ("odd width", |m| {
                m.resolution = Some(Resolution::new(641, 360))
            }),
            ("too noisy", |m| {
                m.source = SourceOptions::Synthetic(SyntheticOptions {
                    noise_amplitude_luma: 100,
                    ..SyntheticOptions::default()
                })
            }),
            ("bad scheduled switch", |m| {
                m.faults.scheduled.push(ScheduledFault {
                    after: Duration::from_secs(1),
                    fault: Fault::SwitchResolution(Resolution::new(3, 3)),
                })
            }),
        ];
        for (name, edit) in failing {
            assert!(with(edit).is_err(), "{name}");
        }
        let empty = CamsimOptions::default().validate();
        assert!(matches!(empty, Err(CamsimError::NoMounts)));
        let twice = CamsimOptions {
            mounts: vec![
                MountOptions::synthetic("/cam/realmonitor?channel=1&subtype=0", 1),
                MountOptions::synthetic("/cam/realmonitor?subtype=0&channel=1", 2),
            ],
            ..CamsimOptions::default()
        };
        assert!(matches!(
            twice.validate(),
            Err(CamsimError::DuplicateMount { .. })
        ));
        let md5 = |path: &str, password: &str| MountOptions {
            auth: AuthOptions::DigestMd5(Credentials {
                username: "admin".to_owned(),
                password: Secret::new(password),
            }),
            ..MountOptions::synthetic(path, 1)
        };
        let shared = |second_password: &str| {
            CamsimOptions {
                mounts: vec![md5("/a", "one"), md5("/b", second_password)],
                ..CamsimOptions::default()
            }
            .validate()
            .is_ok()
        };
        assert!(shared("one"));
        assert!(!shared("two"));
    }
}
