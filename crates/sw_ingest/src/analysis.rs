//! The analysis tail every Stillwatch pipeline ends in, the decoder settings every source
//! applies, and the copy of a GStreamer sample into a [`Frame`](sw_core::Frame)'s luma.
//!
//! ```text
//!  decoded   --> [queue] --> videoscale ------> videoconvert --> capsfilter -----------------> appsink
//!  video         optional:   to W x H, or to    to GRAY8, on     video/x-raw,format=GRAY8,     sync=false
//!  (any size,    3 frames,   W x (aspect-kept)  the small frame  width=W[,height=H]            max-buffers=N
//!   format)      blocking                                        (pixel-aspect-ratio=1/1       drop=<policy>
//!                                                                 when only W is given)
//! ```
//!
//! Luma keeps the source's range: a YUV source's Y plane is copied as it is (H.264/H.265 from
//! cameras: video range, black 16, white 235; JFIF JPEG: full range), and RGB sources (PNG, BMP)
//! convert to full range. GStreamer 1.22's videoconvert does not rescale YUV range, and pinning
//! `colorimetry` in these caps leaks upstream into image decoders' caps and mislabels them.
//!
//! Scaling comes before conversion: converting the full-size frame first halves the frame
//! rate (PLATFORM.md). A source builds its own head (file, image sequence, RTSP), links the
//! decoder's video pad to [`AnalysisTail::sink_pad`], and pulls samples from
//! [`AnalysisTail::appsink`]. With `decoupled`, a small blocking queue comes first, so scaling
//! runs in its own thread beside a costly (video) decoder.
//!
//! Owns: the tail's elements and caps, decoder error policy, sample -> luma copying.
//! Does not own: pipeline heads, the bus, frame numbering or timestamps (the sources do those).

use std::num::NonZeroU32;

use gst::prelude::*;
use gst_video::prelude::*;
use ndarray::Array2;

/// Why a pipeline could not be built; the source adds which input it was for.
#[derive(Debug)]
pub(crate) enum BuildError {
    MissingElement(&'static str),
    Failed(String),
}

pub(crate) fn make_element(factory: &'static str) -> Result<gst::Element, BuildError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| BuildError::MissingElement(factory))
}

/// The analysis frame size: a fixed width, and either a fixed height (the picture is stretched
/// to fill it) or the height that keeps the display aspect ratio with square pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnalysisSize {
    pub(crate) width: NonZeroU32,
    pub(crate) height: Option<NonZeroU32>,
}

impl AnalysisSize {
    /// The caps the tail forces: GRAY8 at this size.
    fn caps(self) -> gst::Caps {
        let as_int = |v: NonZeroU32| i32::try_from(v.get()).unwrap_or(i32::MAX);
        let builder = gst::Caps::builder("video/x-raw")
            .field("format", "GRAY8")
            .field("width", as_int(self.width));
        match self.height {
            Some(height) => builder.field("height", as_int(height)),
            // Square pixels make videoscale pick the height from the display aspect ratio;
            // with the pixel aspect left open it would keep the input height instead.
            None => builder.field("pixel-aspect-ratio", gst::Fraction::new(1, 1)),
        }
        .build()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct AnalysisTailOptions {
    pub(crate) size: AnalysisSize,
    /// Start with a small blocking queue, so scaling runs in its own thread while the decoder
    /// works on the next frame (worth it after video decoders, not after image decoders).
    pub(crate) decoupled: bool,
    /// Samples the appsink holds before `drop_when_full` applies.
    pub(crate) max_buffers: u32,
    /// False: a full appsink blocks the streaming thread (recorded footage, nothing lost).
    /// True: the oldest sample is dropped (live sources, GStreamer never waits on us).
    pub(crate) drop_when_full: bool,
}

/// The tail's two ends: where decoded video goes in and where GRAY8 samples come out.
#[derive(Debug)]
pub(crate) struct AnalysisTail {
    pub(crate) sink_pad: gst::Pad,
    pub(crate) appsink: gst_app::AppSink,
}

impl AnalysisTail {
    /// Adds [queue ->] videoscale -> videoconvert -> capsfilter -> appsink to `bin` and links
    /// them.
    pub(crate) fn build(bin: &gst::Bin, options: &AnalysisTailOptions) -> Result<Self, BuildError> {
        let queue = options.decoupled.then(decoupling_queue).transpose()?;
        let scale = make_element("videoscale")?;
        // Only matters when both width and height are fixed: fill the frame, never letterbox.
        scale.set_property("add-borders", false);
        let convert = make_element("videoconvert")?;
        let capsfilter = make_element("capsfilter")?;
        capsfilter.set_property("caps", options.size.caps());
        let appsink = gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(options.max_buffers)
            .drop(options.drop_when_full)
            .enable_last_sample(false)
            .build();
        let elements: Vec<&gst::Element> = queue
            .iter()
            .chain([&scale, &convert, &capsfilter, appsink.upcast_ref()])
            .collect();
        bin.add_many(&elements)
            .map_err(|e| BuildError::Failed(format!("adding the analysis tail: {e}")))?;
        gst::Element::link_many(&elements)
            .map_err(|e| BuildError::Failed(format!("linking the analysis tail: {e}")))?;
        let sink_pad = elements[0]
            .static_pad("sink")
            .ok_or_else(|| BuildError::Failed("the analysis tail has no sink pad".to_owned()))?;
        Ok(Self { sink_pad, appsink })
    }

    /// The (width, height) the tail negotiated; known once the pipeline has prerolled.
    pub(crate) fn negotiated_size(&self) -> Option<(u32, u32)> {
        let caps = self.appsink.static_pad("sink")?.current_caps()?;
        let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
        Some((info.width(), info.height()))
    }

    /// The negotiated frame rate, when the stream declares a fixed one.
    pub(crate) fn negotiated_frames_per_second(&self) -> Option<gst::Fraction> {
        let caps = self.appsink.static_pad("sink")?.current_caps()?;
        let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
        let fps = info.fps();
        (fps.numer() > 0 && fps.denom() > 0).then_some(fps)
    }
}

/// The queue of a decoupled tail: scaling runs in the queue's thread while the decoder works on
/// the next frame. Bounded by frames only (3 full-size frames); when full it blocks the decoder,
/// dropping nothing. Measured on 2 cores, 1080p H.264 to 320 wide GRAY8: 0.80x of decode-only
/// speed without it, 0.85x with it.
fn decoupling_queue() -> Result<gst::Element, BuildError> {
    let queue = make_element("queue")?;
    queue.set_property("max-size-buffers", 3u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    Ok(queue)
}

/// How a decoder treats damaged input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecoderPolicy {
    /// Make the first decoding error a pipeline error instead of a warning and a silently
    /// missing frame (recorded footage, where frame numbers must stay aligned).
    pub(crate) fail_on_first_error: bool,
}

/// Applies `policy` to any decoder, including those decodebin plugs (call it from
/// `deep-element-added`); other elements are left alone.
pub(crate) fn configure_decoder(element: &gst::Element, policy: DecoderPolicy) {
    // avdec_* pass frames libav knows to be corrupt by default: smeared frames look like motion.
    if element.find_property("output-corrupt").is_some() {
        element.set_property("output-corrupt", false);
    }
    if policy.fail_on_first_error
        && let Some(decoder) = element.downcast_ref::<gst_video::VideoDecoder>()
    {
        // GstVideoDecoder errors out when the error count exceeds this; 1.22's default is -1
        // (never). Set through the base class: jpegdec shadows the property name.
        decoder.set_max_errors(0);
    }
}

/// Copies a GRAY8 sample into a tightly packed `(height, width)` array, honouring the row
/// stride (GStreamer pads GRAY8 rows to 4 bytes).
pub(crate) fn luma_from_sample(sample: &gst::SampleRef) -> Result<Array2<u8>, String> {
    let caps = sample.caps().ok_or("sample has no caps")?;
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|e| format!("sample caps are not raw video: {e}"))?;
    if info.format() != gst_video::VideoFormat::Gray8 {
        return Err(format!("sample is {:?}, not GRAY8", info.format()));
    }
    let buffer = sample.buffer().ok_or("sample has no buffer")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|e| format!("cannot map the frame: {e}"))?;
    let stride =
        usize::try_from(frame.plane_stride()[0]).map_err(|_| "negative row stride".to_owned())?;
    let data = frame
        .plane_data(0)
        .map_err(|e| format!("cannot read the luma plane: {e}"))?;
    copy_rows(
        data,
        stride,
        frame.width() as usize,
        frame.height() as usize,
    )
}

/// Copies `height` rows of `width` bytes, each starting `stride` bytes after the previous one.
fn copy_rows(
    data: &[u8],
    stride: usize,
    width: usize,
    height: usize,
) -> Result<Array2<u8>, String> {
    if height == 0 || width == 0 {
        return Err(format!("empty frame ({width}x{height})"));
    }
    let needed = stride * (height - 1) + width;
    if stride < width || data.len() < needed {
        return Err(format!(
            "plane of {} bytes cannot hold {height} rows of {width} with stride {stride}",
            data.len()
        ));
    }
    let mut packed = Vec::with_capacity(width * height);
    for row in data.chunks(stride).take(height) {
        packed.extend_from_slice(&row[..width]);
    }
    Array2::from_shape_vec((height, width), packed).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_drops_stride_padding() {
        // 3x2 frame stored with stride 4: the fourth byte of each row is padding (9).
        let data = [1, 2, 3, 9, 4, 5, 6, 9];
        let luma = copy_rows(&data, 4, 3, 2).unwrap();
        assert_eq!(luma, ndarray::array![[1, 2, 3], [4, 5, 6]]);
        // The last row may stop at its width.
        let luma = copy_rows(&data[..7], 4, 3, 2).unwrap();
        assert_eq!(luma, ndarray::array![[1, 2, 3], [4, 5, 6]]);
    }

    #[test]
    fn copy_rows_rejects_short_planes() {
        // data length, stride, width, height
        let cases = [(7, 4, 4, 2), (8, 2, 3, 2), (8, 4, 0, 2), (8, 4, 3, 0)];
        for (length, stride, width, height) in cases {
            let data = vec![0u8; length];
            assert!(
                copy_rows(&data, stride, width, height).is_err(),
                "{length} bytes, stride {stride}, {width}x{height}"
            );
        }
    }
}
