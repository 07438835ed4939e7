//! The pipelines that produce a mount's RTP stream, one per served media.
//!
//! Owns: preparing a mount's source at start (scanning an image folder, loading a file into
//! memory), building the bin gst-rtsp-server runs for each media, feeding its `appsrc` with
//! timestamped frames, and the gate that implements a stall. Does not own: the RTSP server,
//! clients or auth (`server`, `auth`), loading files (`clip`), rendering (`scene`).
//!
//! ```text
//! synthetic   appsrc(I420, frames rendered by scene::Scene) -> clocksync
//!               -> videoscale -> videoconvert -> capsfilter "size" -> x264enc|x265enc
//!               -> h264parse|h265parse -> [gate] -> rtph264pay|rtph265pay name=pay0
//!
//! images      appsrc(image/jpeg|png|bmp, one file per buffer, looped) -> clocksync
//!               -> jpegdec|pngdec|avdec_bmp -> (same tail as synthetic, from videoscale)
//!
//! file        appsrc(H.264/H.265 access units replayed from memory, looped,
//!                    timestamps shifted by one clip duration per loop) -> clocksync
//!               -> h264parse|h265parse -> [gate] -> rtph264pay|rtph265pay name=pay0
//!
//! [gate]  pad probe on pay0's sink: drops everything while the mount is stalled, then drops
//!         until a key frame (asking the encoder for one) so clients resume cleanly.
//! "size"  a switch_resolution fault sets its caps; the encoder restarts with the new size.
//! ```
//!
//! Every appsrc has its own timestamps (stream time is frame time: a lighting change happens at
//! the same frame every run) and `clocksync` releases each frame at its time. Pacing at the
//! source, not only at gst-rtsp-server's sinks, keeps a stalled mount (whose frames never
//! reach the sinks) from racing ahead of the clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gst::prelude::*;
use gst_app::AppSrc;
use sw_ingest::{ImageFormat, ImageSequence};

use crate::clip::{self, EncodedClip};
use crate::error::CamsimError;
use crate::mount::MountState;
use crate::options::{Codec, MountOptions, Resolution, SourceOptions, SyntheticOptions};
use crate::scene::Scene;

/// Frame size of a synthetic scene when the mount names none.
pub(crate) const DEFAULT_SYNTHETIC_RESOLUTION: Resolution = Resolution::new(640, 360);

/// A mount's source, ready to feed any number of pipelines.
#[derive(Debug)]
pub(crate) enum PreparedSource {
    /// Rendered at `resolution`; a switched resolution is scaled from it.
    Synthetic {
        options: SyntheticOptions,
        resolution: Resolution,
    },
    Images(ImageSet),
    Clip(Arc<EncodedClip>),
}

impl PreparedSource {
    /// Scans image folders and loads files (encoding them once if needed).
    pub fn prepare(mount: &MountOptions) -> Result<Self, CamsimError> {
        match &mount.source {
            SourceOptions::Synthetic(options) => Ok(Self::Synthetic {
                options: options.clone(),
                resolution: mount.resolution.unwrap_or(DEFAULT_SYNTHETIC_RESOLUTION),
            }),
            SourceOptions::ImageSequence { dir, fps } => ImageSet::scan(dir, *fps)
                .map(Self::Images)
                .map_err(|reason| CamsimError::ImageSequence {
                    path: mount.path.clone(),
                    dir: dir.clone(),
                    reason,
                }),
            SourceOptions::File { path } => {
                clip::load(&mount.path, path, mount.codec, mount.resolution)
                    .map(|clip| Self::Clip(Arc::new(clip)))
            }
        }
    }
}

/// The numbered images of a folder, in order, found the way `stillwatch bench` finds them.
#[derive(Debug, Clone)]
pub(crate) struct ImageSet {
    files: Arc<[PathBuf]>,
    format: ImageFormat,
    fps: u32,
}

impl ImageSet {
    /// The sequence in `dir` (or in `dir/input`, so a CDnet sequence folder works as is).
    fn scan(dir: &Path, fps: u32) -> Result<Self, String> {
        let sequence = ImageSequence::detect(dir).map_err(|error| error.to_string())?;
        Ok(Self {
            files: sequence.files().collect(),
            format: sequence.format(),
            fps,
        })
    }
}

/// Where an appsrc's next buffer comes from.
enum Feed {
    Synthetic { scene: Scene, fps: u32 },
    Images(ImageSet),
    Clip(Arc<EncodedClip>),
}

/// Nanoseconds at which frame `index` starts, at `fps` frames per second.
fn frame_time_nanos(index: u64, fps: u32) -> u64 {
    (u128::from(index) * 1_000_000_000 / u128::from(fps)) as u64
}

impl Feed {
    fn buffer(&self, index: u64) -> Result<gst::Buffer, String> {
        match self {
            Self::Synthetic { scene, fps } => {
                let mut data = vec![0; scene.frame_bytes()];
                scene.render_i420(index, &mut data);
                Ok(timestamped(gst::Buffer::from_mut_slice(data), index, *fps))
            }
            Self::Images(set) => {
                let file = &set.files[(index % set.files.len() as u64) as usize];
                let data = std::fs::read(file)
                    .map_err(|error| format!("reading {}: {error}", file.display()))?;
                Ok(timestamped(
                    gst::Buffer::from_mut_slice(data),
                    index,
                    set.fps,
                ))
            }
            Self::Clip(clip) => Ok(clip.frame(index)),
        }
    }
}

pub(crate) fn timestamped(mut buffer: gst::Buffer, index: u64, fps: u32) -> gst::Buffer {
    let start = frame_time_nanos(index, fps);
    let end = frame_time_nanos(index + 1, fps);
    let buffer_mut = buffer.make_mut();
    buffer_mut.set_pts(gst::ClockTime::from_nseconds(start));
    buffer_mut.set_duration(gst::ClockTime::from_nseconds(end - start));
    buffer
}

/// Caps of the synthetic scene's raw frames: I420 at `resolution` and `fps`.
pub(crate) fn synthetic_caps(fps: u32, resolution: Resolution) -> Result<gst::Caps, String> {
    gst_video::VideoInfo::builder(
        gst_video::VideoFormat::I420,
        resolution.width,
        resolution.height,
    )
    .fps(gst::Fraction::new(fps as i32, 1))
    .build()
    .and_then(|info| info.to_caps())
    .map_err(|error| error.to_string())
}

/// Raw video caps the size capsfilter holds: I420, square pixels, and the size when one is set.
pub(crate) fn raw_caps(resolution: Option<Resolution>) -> gst::Caps {
    let builder = gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::I420)
        .pixel_aspect_ratio(gst::Fraction::new(1, 1));
    match resolution {
        Some(size) => builder
            .width(size.width as i32)
            .height(size.height as i32)
            .build(),
        None => builder.build(),
    }
}

/// The Debian package that ships a GStreamer element, for error messages.
fn package_of(element: &str) -> &'static str {
    match element {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "x265enc" | "h264parse" | "h265parse" => "gstreamer1.0-plugins-bad",
        "avdec_bmp" => "gstreamer1.0-libav",
        "jpegdec" | "pngdec" | "rtph264pay" | "rtph265pay" => "gstreamer1.0-plugins-good",
        _ => "gstreamer1.0-plugins-base",
    }
}

pub(crate) fn make_element(
    mount: &str,
    factory: &'static str,
) -> Result<gst::Element, CamsimError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| CamsimError::MissingElement {
            path: mount.to_owned(),
            element: factory,
            hint: package_of(factory),
        })
}

fn pipeline_error(mount: &str, reason: impl Into<String>) -> CamsimError {
    CamsimError::Pipeline {
        path: mount.to_owned(),
        reason: reason.into(),
    }
}

/// Raw video in, parsed H.264/H.265 out: scale, convert, the "size" capsfilter, encode, parse.
pub(crate) struct EncoderChain {
    pub elements: Vec<gst::Element>,
    pub size_filter: gst::Element,
}

pub(crate) fn encoder_chain(
    mount: &str,
    codec: Codec,
    resolution: Option<Resolution>,
    fps: u32,
) -> Result<EncoderChain, CamsimError> {
    let scale = make_element(mount, "videoscale")?;
    // Stretch rather than letterbox when a switch changes the aspect ratio.
    scale.set_property("add-borders", false);
    let convert = make_element(mount, "videoconvert")?;
    let size_filter = make_element(mount, "capsfilter")?;
    size_filter.set_property("caps", raw_caps(resolution));
    let key_interval_frames = (fps * 2) as i32;
    let (encoder, parser) = match codec {
        Codec::H264 => {
            let encoder = make_element(mount, "x264enc")?;
            encoder.set_property_from_str("speed-preset", "ultrafast");
            encoder.set_property_from_str("tune", "zerolatency");
            encoder.set_property_from_str("pass", "qual");
            encoder.set_property("quantizer", 26u32);
            encoder.set_property("key-int-max", key_interval_frames as u32);
            encoder.set_property("threads", 1u32);
            (encoder, make_element(mount, "h264parse")?)
        }
        Codec::H265 => {
            let encoder = make_element(mount, "x265enc")?;
            encoder.set_property_from_str("speed-preset", "ultrafast");
            encoder.set_property_from_str("tune", "zerolatency");
            encoder.set_property("key-int-max", key_interval_frames);
            encoder.set_property("option-string", "crf=28:pools=1:frame-threads=1");
            (encoder, make_element(mount, "h265parse")?)
        }
    };
    Ok(EncoderChain {
        elements: vec![scale, convert, size_filter.clone(), encoder, parser],
        size_filter,
    })
}

/// Builds the bin for one media of `mount`: the bin gst-rtsp-server wraps in its pipeline.
pub(crate) fn build_bin(mount: &Arc<MountState>) -> Result<gst::Bin, CamsimError> {
    let path = mount.path.as_str();
    let codec = mount.codec();
    let (caps, feed, mut elements, size_filter) = match &mount.source {
        PreparedSource::Synthetic {
            options,
            resolution,
        } => {
            let caps = synthetic_caps(options.fps, *resolution)
                .map_err(|reason| pipeline_error(path, reason))?;
            let chain = encoder_chain(path, codec, mount.resolution(), options.fps)?;
            let feed = Feed::Synthetic {
                scene: Scene::new(options, *resolution),
                fps: options.fps,
            };
            (caps, feed, chain.elements, Some(chain.size_filter))
        }
        PreparedSource::Images(set) => {
            let caps = set.format.caps(set.fps);
            let chain = encoder_chain(path, codec, mount.resolution(), set.fps)?;
            let mut elements = vec![make_element(path, set.format.decoder_factory())?];
            elements.extend(chain.elements);
            (
                caps,
                Feed::Images(set.clone()),
                elements,
                Some(chain.size_filter),
            )
        }
        PreparedSource::Clip(clip) => {
            let parser = match codec {
                Codec::H264 => make_element(path, "h264parse")?,
                Codec::H265 => make_element(path, "h265parse")?,
            };
            (
                clip.caps.clone(),
                Feed::Clip(clip.clone()),
                vec![parser],
                None,
            )
        }
    };
    let payloader = make_element(
        path,
        match codec {
            Codec::H264 => "rtph264pay",
            Codec::H265 => "rtph265pay",
        },
    )?;
    payloader.set_property("name", "pay0");
    payloader.set_property("pt", 96u32);
    payloader.set_property("config-interval", -1i32);
    add_gate(&payloader, mount)?;

    let appsrc = AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .is_live(false)
        .stream_type(gst_app::AppStreamType::Stream)
        .max_buffers(2)
        .build();
    appsrc.set_callbacks(feed_callbacks(feed, path.to_owned()));

    let bin = gst::Bin::new();
    elements.insert(0, make_element(path, "clocksync")?);
    elements.insert(0, appsrc.upcast());
    elements.push(payloader);
    bin.add_many(&elements)
        .map_err(|error| pipeline_error(path, error.to_string()))?;
    gst::Element::link_many(&elements).map_err(|error| pipeline_error(path, error.to_string()))?;
    mount.register_media(&bin, size_filter.as_ref());
    Ok(bin)
}

/// The appsrc callback: one buffer per `need-data`. A feed error (an image that cannot be read)
/// ends the stream, as a failing camera would.
fn feed_callbacks(feed: Feed, mount: String) -> gst_app::AppSrcCallbacks {
    let mut next_index = 0u64;
    gst_app::AppSrcCallbacks::builder()
        .need_data(move |appsrc, _| match feed.buffer(next_index) {
            Ok(buffer) => {
                next_index += 1;
                // Flushing or shutting down: the next need-data (if any) tries again.
                let _ = appsrc.push_buffer(buffer);
            }
            Err(reason) => {
                tracing::error!(mount = %mount, frame = next_index, %reason, "camsim: source failed, ending stream");
                let _ = appsrc.end_of_stream();
            }
        })
        .build()
}

/// The stall gate on the payloader's input (see the module drawing).
fn add_gate(payloader: &gst::Element, mount: &Arc<MountState>) -> Result<(), CamsimError> {
    let sink = payloader
        .static_pad("sink")
        .ok_or_else(|| pipeline_error(&mount.path, "payloader has no sink pad"))?;
    let mount = Arc::clone(mount);
    let waiting_for_key_frame = AtomicBool::new(false);
    let key_frame_requested = AtomicBool::new(false);
    sink.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        // `Handled` rather than `Drop`: the buffer is released on the Rust side (with `Drop`,
        // gstreamer-rs 0.25 on GStreamer 1.22 logs a CRITICAL unref of NULL per buffer).
        if mount.is_stalled() {
            waiting_for_key_frame.store(true, Ordering::Relaxed);
            return gst::PadProbeReturn::Handled;
        }
        if waiting_for_key_frame.load(Ordering::Relaxed) {
            if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                if !key_frame_requested.swap(true, Ordering::Relaxed) {
                    let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                        .all_headers(true)
                        .build();
                    pad.push_event(event);
                }
                return gst::PadProbeReturn::Handled;
            }
            waiting_for_key_frame.store(false, Ordering::Relaxed);
            key_frame_requested.store(false, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times() {
        let table = [
            (0, 10, 0),
            (1, 10, 100_000_000),
            (3, 30, 100_000_000),
            (7, 3, 2_333_333_333),
        ];
        for (index, fps, expected) in table {
            assert_eq!(frame_time_nanos(index, fps), expected, "{index}@{fps}");
        }
    }

    #[test]
    fn image_scan_looks_inside_a_cdnet_sequence_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("input")).unwrap();
        std::fs::write(dir.path().join("ROI.bmp"), b"x").unwrap();
        for name in ["in000002.jpg", "in000001.jpg"] {
            std::fs::write(
                dir.path().join("input").join(name),
                [0xFF, 0xD8, 0xFF, 0xD9],
            )
            .unwrap();
        }
        let set = ImageSet::scan(dir.path(), 25).unwrap();
        assert_eq!(set.files.len(), 2);
        assert!(set.files[0].ends_with("input/in000001.jpg"));
        assert_eq!(set.format, ImageFormat::Jpeg);
        let empty = tempfile::tempdir().unwrap();
        assert!(ImageSet::scan(empty.path(), 25).is_err());
    }
}
