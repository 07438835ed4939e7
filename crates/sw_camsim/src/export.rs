//! Writing the synthetic scene to a video file, for demos and tests that need footage without a
//! server.
//!
//! ```text
//! appsrc(I420 frames rendered by scene::Scene) -> videoscale -> videoconvert -> "size"
//!   -> x264enc|x265enc -> h264parse|h265parse -> mp4mux -> filesink
//! ```
//!
//! Owns: encoding a fixed number of frames to MP4 and waiting until the file is complete.
//! Does not own: the scene (`scene`) or the encoder settings (`source::encoder_chain`).

use std::path::PathBuf;

use gst::prelude::*;
use gst_app::AppSrc;

use crate::error::CamsimError;
use crate::options::{Codec, Resolution, SyntheticOptions};
use crate::scene::Scene;
use crate::source::{encoder_chain, make_element, synthetic_caps, timestamped};

/// What [`write_synthetic_clip`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipOptions {
    /// The MP4 file to create (overwritten if it exists).
    pub path: PathBuf,
    pub scene: SyntheticOptions,
    pub resolution: Resolution,
    pub codec: Codec,
    /// Frames to write; the clip lasts `frames / scene.fps` seconds.
    pub frames: u64,
}

/// Renders `options.frames` frames of the synthetic scene and encodes them into an MP4 file.
pub fn write_synthetic_clip(options: &ClipOptions) -> Result<(), CamsimError> {
    gst::init().map_err(CamsimError::Init)?;
    let label = options.path.display().to_string();
    let error = |reason: String| CamsimError::Export {
        file: options.path.clone(),
        reason,
    };
    let fps = options.scene.fps;
    let appsrc = AppSrc::builder()
        .caps(&synthetic_caps(fps, options.resolution).map_err(error)?)
        .format(gst::Format::Time)
        .block(true)
        .max_buffers(4)
        .build();
    let mut elements: Vec<gst::Element> = vec![appsrc.clone().upcast()];
    elements.extend(encoder_chain(&label, options.codec, None, fps)?.elements);
    elements.push(make_element(&label, "mp4mux")?);
    let sink = make_element(&label, "filesink")?;
    sink.set_property("location", &options.path);
    elements.push(sink);

    let pipeline = gst::Pipeline::new();
    pipeline
        .add_many(&elements)
        .and_then(|()| gst::Element::link_many(&elements))
        .map_err(|failure| error(failure.to_string()))?;
    let result = encode(&pipeline, &appsrc, options);
    // Null on every exit path, success or not.
    let _ = pipeline.set_state(gst::State::Null);
    result.map_err(error)
}

fn encode(pipeline: &gst::Pipeline, appsrc: &AppSrc, options: &ClipOptions) -> Result<(), String> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|failure| failure.to_string())?;
    let scene = Scene::new(&options.scene, options.resolution);
    for index in 0..options.frames {
        let mut data = vec![0; scene.frame_bytes()];
        scene.render_i420(index, &mut data);
        let buffer = timestamped(gst::Buffer::from_mut_slice(data), index, options.scene.fps);
        // A refused push means the pipeline failed: the bus says why.
        if appsrc.push_buffer(buffer).is_err() {
            break;
        }
    }
    let _ = appsrc.end_of_stream();
    let bus = pipeline.bus().ok_or("the pipeline has no bus")?;
    for message in bus.iter_timed(gst::ClockTime::NONE) {
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(failure) => {
                return Err(format!(
                    "{}: {} ({})",
                    failure
                        .src()
                        .map(|src| src.path_string())
                        .unwrap_or_default(),
                    failure.error(),
                    failure.debug().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
    Err("the pipeline's bus closed before the end of stream".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_clip_of_the_requested_length() {
        let dir = tempfile::tempdir().unwrap();
        let options = ClipOptions {
            path: dir.path().join("scene.mp4"),
            scene: SyntheticOptions::default(),
            resolution: Resolution::new(160, 96),
            codec: Codec::H264,
            frames: 20,
        };
        write_synthetic_clip(&options).unwrap();
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args([
                "-show_entries",
                "stream=width,height,nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(&options.path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "160,96,20");
    }
}
