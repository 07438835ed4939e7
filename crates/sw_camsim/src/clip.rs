//! A video file held in memory as H.264/H.265 access units, replayed in a loop.
//!
//! Owns: loading a file once at start and handing out its frames with loop-adjusted
//! timestamps. A file whose video already is the mount's codec (and no resolution is forced)
//! is kept exactly as recorded, so a many-camera benchmark pays for no simulator encoders;
//! anything else is decoded and encoded once here. Does not own: serving (`source`).
//!
//! ```text
//! as recorded   filesrc -> parsebin -> h264parse|h265parse (SPS/PPS before every IDR)
//!                 -> appsink(byte-stream, one access unit per buffer)
//! re-encoded    filesrc -> parsebin -> decodebin -> encoder chain (see source) -> appsink
//! other pads    (audio, metadata) -> fakesink
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::error::CamsimError;
use crate::options::{Codec, Resolution};
use crate::source::{encoder_chain, make_element};

/// Encoded size above which a file is refused (it is held in memory).
const MAX_CLIP_BYTES: usize = 256 * 1024 * 1024;

/// How long loading may go without a new frame before it is abandoned.
const LOAD_STALL_LIMIT: Duration = Duration::from_secs(20);

/// Frame rate assumed for timing when a file states none.
const FALLBACK_FPS: u32 = 10;

/// A whole file's access units, timestamps starting at zero.
pub(crate) struct EncodedClip {
    pub caps: gst::Caps,
    frames: Vec<gst::Buffer>,
    duration_nanos: u64,
}

impl EncodedClip {
    /// Frame `index` of the endless loop: frame `index % len`, shifted by one clip duration per
    /// completed loop. The memory is shared, not copied.
    pub fn frame(&self, index: u64) -> gst::Buffer {
        let count = self.frames.len() as u64;
        let offset = gst::ClockTime::from_nseconds(index / count * self.duration_nanos);
        let mut buffer = self.frames[(index % count) as usize].copy();
        let buffer_mut = buffer.make_mut();
        if let Some(pts) = buffer_mut.pts() {
            buffer_mut.set_pts(pts + offset);
        }
        if let Some(dts) = buffer_mut.dts() {
            buffer_mut.set_dts(dts + offset);
        }
        buffer
    }
}

impl fmt::Debug for EncodedClip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedClip")
            .field("caps", &self.caps)
            .field("frames", &self.frames.len())
            .field("duration_nanos", &self.duration_nanos)
            .finish()
    }
}

fn caps_name(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "video/x-h264",
        Codec::H265 => "video/x-h265",
    }
}

/// Loads `file` for mount `mount`.
pub(crate) fn load(
    mount: &str,
    file: &Path,
    codec: Codec,
    resolution: Option<Resolution>,
) -> Result<EncodedClip, CamsimError> {
    let fail = |reason: String| CamsimError::LoadFile {
        path: mount.to_owned(),
        file: file.to_path_buf(),
        reason,
    };
    if !file.is_file() {
        return Err(fail("not a readable file".to_owned()));
    }
    let pipeline = gst::Pipeline::new();
    let filesrc = make_element(mount, "filesrc")?;
    filesrc.set_property("location", file);
    let parsebin = make_element(mount, "parsebin")?;
    let appsink = gst_app::AppSink::builder()
        .caps(
            &gst::Caps::builder(caps_name(codec))
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        )
        .sync(false)
        .build();
    pipeline
        .add_many([&filesrc, &parsebin, appsink.upcast_ref()])
        .and_then(|()| filesrc.link(&parsebin))
        .map_err(|error| fail(error.to_string()))?;

    let linker = Arc::new(VideoLinker {
        mount: mount.to_owned(),
        codec,
        resolution,
        pipeline: pipeline.downgrade(),
        appsink: appsink.clone().upcast(),
        video_linked: AtomicBool::new(false),
    });
    let on_pad = Arc::clone(&linker);
    parsebin.connect_pad_added(move |_, pad| on_pad.pad_added(pad));
    parsebin.connect_no_more_pads(move |parsebin| {
        if !linker.video_linked.load(Ordering::Relaxed) {
            gst::element_error!(parsebin, gst::StreamError::WrongType, ["no video stream"]);
        }
    });

    let result = pipeline
        .set_state(gst::State::Playing)
        .map_err(|error| fail(error.to_string()))
        .and_then(|_| collect(&pipeline, &appsink).map_err(fail));
    // Errors while stopping change nothing: the pipeline is dropped either way.
    let _ = pipeline.set_state(gst::State::Null);
    let (caps, frames) = result?;
    let clip = normalise(caps, frames).map_err(fail)?;
    tracing::info!(
        mount,
        file = %file.display(),
        frames = clip.frames.len(),
        "camsim: file loaded"
    );
    Ok(clip)
}

/// Links parsebin's first video pad to the appsink, as recorded or through a re-encode, and
/// every other pad to a fakesink.
struct VideoLinker {
    mount: String,
    codec: Codec,
    resolution: Option<Resolution>,
    pipeline: gst::glib::WeakRef<gst::Pipeline>,
    appsink: gst::Element,
    video_linked: AtomicBool,
}

impl VideoLinker {
    fn pad_added(&self, pad: &gst::Pad) {
        let Some(pipeline) = self.pipeline.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|structure| structure.name().to_string())
            .unwrap_or_default();
        // Motion JPEG comes out of parsebin as image/jpeg.
        let is_video = name.starts_with("video/") || name.starts_with("image/");
        let result = if is_video && !self.video_linked.swap(true, Ordering::Relaxed) {
            if name == caps_name(self.codec) && self.resolution.is_none() {
                self.link_as_recorded(&pipeline, pad)
            } else {
                let fps = caps
                    .structure(0)
                    .and_then(|structure| structure.get::<gst::Fraction>("framerate").ok())
                    .filter(|rate| rate.numer() > 0 && rate.denom() > 0)
                    .map_or(FALLBACK_FPS, |rate| {
                        (rate.numer() / rate.denom()).clamp(1, 120) as u32
                    });
                self.link_reencoded(&pipeline, pad, fps)
            }
        } else {
            self.element("fakesink")
                .and_then(|fakesink| add_chain(&pipeline, &[fakesink], None))
                .and_then(|sink| link_pad(pad, &sink))
        };
        if let Err(error) = result {
            gst::element_error!(
                pipeline,
                gst::CoreError::Negotiation,
                ["linking {name}: {error}"]
            );
        }
    }

    fn element(&self, factory: &'static str) -> Result<gst::Element, String> {
        make_element(&self.mount, factory).map_err(|error| error.to_string())
    }

    fn link_as_recorded(&self, pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<(), String> {
        let parser = self.element(match self.codec {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        })?;
        parser.set_property("config-interval", -1i32);
        let sink = add_chain(pipeline, &[parser], Some(&self.appsink))?;
        link_pad(pad, &sink)
    }

    fn link_reencoded(
        &self,
        pipeline: &gst::Pipeline,
        pad: &gst::Pad,
        fps: u32,
    ) -> Result<(), String> {
        let chain = encoder_chain(&self.mount, self.codec, self.resolution, fps)
            .map_err(|error| error.to_string())?;
        let chain_sink = add_chain(pipeline, &chain.elements, Some(&self.appsink))?;
        let decodebin = self.element("decodebin")?;
        decodebin.connect_pad_added(move |_, decoded| {
            if !chain_sink.is_linked() {
                // A failed link surfaces as not-negotiated on the bus.
                let _ = decoded.link(&chain_sink);
            }
        });
        let sink = add_chain(pipeline, &[decodebin], None)?;
        link_pad(pad, &sink)
    }
}

/// Adds `elements` to the pipeline, links them (and on to `tail`, already in the pipeline),
/// starts them and returns the first one's sink pad.
fn add_chain(
    pipeline: &gst::Pipeline,
    elements: &[gst::Element],
    tail: Option<&gst::Element>,
) -> Result<gst::Pad, String> {
    pipeline
        .add_many(elements)
        .map_err(|error| error.to_string())?;
    let mut linked = elements.to_vec();
    linked.extend(tail.cloned());
    gst::Element::link_many(&linked).map_err(|error| error.to_string())?;
    for element in elements {
        element
            .sync_state_with_parent()
            .map_err(|error| error.to_string())?;
    }
    elements[0]
        .static_pad("sink")
        .ok_or_else(|| "no sink pad".to_owned())
}

fn link_pad(pad: &gst::Pad, sink: &gst::Pad) -> Result<(), String> {
    pad.link(sink)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// Pulls every access unit until end of stream, failing on a bus error, a stall or too much
/// data.
fn collect(
    pipeline: &gst::Pipeline,
    appsink: &gst_app::AppSink,
) -> Result<(gst::Caps, Vec<gst::Buffer>), String> {
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let mut caps = None;
    let mut frames = Vec::new();
    let mut total_bytes = 0usize;
    let mut last_progress = Instant::now();
    loop {
        if let Some(sample) = appsink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            last_progress = Instant::now();
            if caps.is_none() {
                caps = sample.caps_owned();
            }
            if let Some(buffer) = sample.buffer_owned() {
                total_bytes += buffer.size();
                if total_bytes > MAX_CLIP_BYTES {
                    return Err(format!("more than {MAX_CLIP_BYTES} bytes of video"));
                }
                frames.push(buffer);
            }
            continue;
        }
        if appsink.is_eos() {
            break;
        }
        if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(error) = message.view()
        {
            let element = error
                .src()
                .map(|src| src.path_string().to_string())
                .unwrap_or_default();
            return Err(format!("{element}: {}", error.error()));
        }
        if last_progress.elapsed() > LOAD_STALL_LIMIT {
            return Err(format!("no frame for {} s", LOAD_STALL_LIMIT.as_secs()));
        }
    }
    let caps = caps.ok_or("no video frames")?;
    Ok((caps, frames))
}

/// Drops leading non-key frames and shifts timestamps so the clip starts at zero. A frame
/// without a presentation time (AVI stores only decode times) is presented at its decode time;
/// decoders reorder B-frames by picture order either way.
fn normalise(caps: gst::Caps, mut frames: Vec<gst::Buffer>) -> Result<EncodedClip, String> {
    let first_key = frames
        .iter()
        .position(|buffer| !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT))
        .ok_or("no key frame")?;
    let mut frames = frames.split_off(first_key);
    let fallback_duration = gst::ClockTime::SECOND / u64::from(FALLBACK_FPS);
    let mut base = u64::MAX;
    let mut end = 0u64;
    for (index, buffer) in frames.iter_mut().enumerate() {
        let pts = buffer
            .pts()
            .or(buffer.dts())
            .ok_or(format!("frame {index} has no timestamp"))?;
        let dts = buffer.dts().unwrap_or(pts);
        base = base.min(pts.nseconds()).min(dts.nseconds());
        let duration = buffer.duration().unwrap_or(fallback_duration);
        end = end.max((pts + duration).nseconds());
        buffer.make_mut().set_pts(pts);
    }
    let base = gst::ClockTime::from_nseconds(base);
    for buffer in &mut frames {
        let buffer_mut = buffer.make_mut();
        if let Some(pts) = buffer_mut.pts() {
            buffer_mut.set_pts(pts - base);
        }
        if let Some(dts) = buffer_mut.dts() {
            buffer_mut.set_dts(dts - base);
        }
    }
    Ok(EncodedClip {
        caps,
        duration_nanos: end - base.nseconds(),
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pts_millis: u64, dts_millis: u64, key: bool) -> gst::Buffer {
        let mut buffer = gst::Buffer::with_size(4).unwrap();
        let buffer_mut = buffer.get_mut().unwrap();
        buffer_mut.set_pts(gst::ClockTime::from_mseconds(pts_millis));
        buffer_mut.set_dts(gst::ClockTime::from_mseconds(dts_millis));
        buffer_mut.set_duration(gst::ClockTime::from_mseconds(100));
        if !key {
            buffer_mut.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        buffer
    }

    #[test]
    fn loops_shift_timestamps_by_the_clip_duration() {
        gst::init().unwrap();
        // A lone delta frame first (dropped), then key + two B-frame-style reordered frames.
        let frames = vec![
            frame(900, 900, false),
            frame(1200, 1000, true),
            frame(1000, 1100, false),
            frame(1100, 1200, false),
        ];
        let clip = normalise(gst::Caps::new_empty_simple("video/x-h264"), frames).unwrap();
        assert_eq!(clip.duration_nanos, 300_000_000);
        // (index, pts ms, dts ms)
        let table = [
            (0, 200, 0),
            (1, 0, 100),
            (2, 100, 200),
            (3, 500, 300),
            (7, 600, 700),
        ];
        for (index, pts, dts) in table {
            let buffer = clip.frame(index);
            assert_eq!(
                buffer.pts(),
                Some(gst::ClockTime::from_mseconds(pts)),
                "{index}"
            );
            assert_eq!(
                buffer.dts(),
                Some(gst::ClockTime::from_mseconds(dts)),
                "{index}"
            );
        }
    }

    #[test]
    fn a_frame_without_presentation_time_is_presented_at_its_decode_time() {
        gst::init().unwrap();
        let mut dts_only = frame(0, 1100, false);
        dts_only.make_mut().set_pts(gst::ClockTime::NONE);
        let frames = vec![frame(1000, 1000, true), dts_only];
        let clip = normalise(gst::Caps::new_empty_simple("video/x-h264"), frames).unwrap();
        assert_eq!(
            clip.frame(1).pts(),
            Some(gst::ClockTime::from_mseconds(100))
        );
        assert_eq!(clip.duration_nanos, 200_000_000);
    }

    #[test]
    fn clip_without_key_frame_is_refused() {
        gst::init().unwrap();
        let frames = vec![frame(0, 0, false)];
        assert!(normalise(gst::Caps::new_empty_simple("video/x-h264"), frames).is_err());
    }
}
