//! RecordedSource against real GStreamer on tiny fixtures that GStreamer itself encodes into a
//! temporary folder: H.264 MP4, H.265 MKV, JPEG/PNG/BMP sequences, and damaged copies of them.

// Helpers outside the #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use gst::prelude::*;
use sw_core::CameraId;
use sw_ingest::{IngestError, RecordedOptions, RecordedSource};

/// Runs a gst-launch style description to end of stream (encodes a fixture).
fn run_pipeline(description: &str) {
    sw_ingest::init().unwrap();
    let pipeline = gst::parse::launch(description).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("fixture pipeline timed out");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(error) = message.view() {
        panic!("fixture pipeline failed: {description}: {}", error.error());
    }
}

/// `frames` frames of a videotestsrc pattern as raw video caps plus the rest of a pipeline.
fn test_video(pattern: &str, width: u32, height: u32, frames: u32, rest: &str) {
    run_pipeline(&format!(
        "videotestsrc num-buffers={frames} pattern={pattern} \
         ! video/x-raw,width={width},height={height},framerate=25/1 ! {rest}"
    ));
}

fn h264_mp4(path: &Path, pattern: &str, width: u32, height: u32, frames: u32) {
    test_video(
        pattern,
        width,
        height,
        frames,
        &format!(
            "x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            path.display()
        ),
    );
}

fn options(input: &Path, width: u32, height: Option<u32>) -> RecordedOptions {
    RecordedOptions {
        input: input.to_path_buf(),
        camera: CameraId::new("test-cam").unwrap(),
        width: NonZeroU32::new(width).unwrap(),
        height: height.and_then(NonZeroU32::new),
        sequence_fps: NonZeroU32::new(25).unwrap(),
    }
}

/// What reading a source to its end gave.
#[derive(Debug)]
struct Drained {
    frames: u64,
    /// Luma range over all frames.
    min_luma: u8,
    max_luma: u8,
    /// Frame shape (rows, cols) of the last frame.
    shape: (usize, usize),
    error: Option<IngestError>,
}

fn drain(source: &mut RecordedSource) -> Drained {
    let mut drained = Drained {
        frames: 0,
        min_luma: u8::MAX,
        max_luma: 0,
        shape: (0, 0),
        error: None,
    };
    let mut last: Option<(u64, u64)> = None; // (seq, pts_nanos)
    loop {
        match source.next_frame() {
            Ok(Some(frame)) => {
                if let Some((last_seq, last_pts_nanos)) = last {
                    assert_eq!(
                        frame.seq,
                        last_seq + 1,
                        "frames arrive in order, none skipped"
                    );
                    assert!(frame.pts_nanos > last_pts_nanos, "pts increases");
                }
                last = Some((frame.seq, frame.pts_nanos));
                drained.shape = frame.luma.dim();
                for &value in &frame.luma {
                    drained.min_luma = drained.min_luma.min(value);
                    drained.max_luma = drained.max_luma.max(value);
                }
                drained.frames += 1;
            }
            Ok(None) => break,
            Err(error) => {
                drained.error = Some(error);
                break;
            }
        }
    }
    assert!(
        matches!(source.next_frame(), Ok(None)),
        "a finished source stays finished"
    );
    drained
}

fn open_and_drain(options: &RecordedOptions) -> (RecordedSource, Drained) {
    let mut source = RecordedSource::open(options).unwrap();
    let drained = drain(&mut source);
    (source, drained)
}

#[test]
fn h264_mp4_gives_every_frame_at_the_aspect_kept_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("black.mp4");
    h264_mp4(&path, "black", 320, 180, 10);

    let (source, drained) = open_and_drain(&options(&path, 160, None));
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(source.analysis_size(), (160, 90));
    assert_eq!(drained.shape, (90, 160));
    assert_eq!(source.first_frame_number(), 0);
    assert_eq!(source.frame_count_hint(), Some(10));
    assert_eq!(drained.frames, 10);
    assert_eq!(source.decoder_dropped_frames(), 0);
    // Video-range black, give or take the encoder.
    assert!(
        (15..=17).contains(&drained.min_luma) && (15..=17).contains(&drained.max_luma),
        "{drained:?}"
    );
}

#[test]
fn fixed_height_stretches_and_odd_widths_keep_rows_straight() {
    // Full-height vertical colour bars, losslessly stored: every row of the analysis frame must
    // equal the first. A 90-pixel GRAY8 row is stored with a 92-byte stride; copying without
    // the stride would shift each row 2 pixels against the one above.
    let dir = tempfile::tempdir().unwrap();
    test_video(
        "smpte100",
        160,
        120,
        2,
        &format!(
            "videoconvert ! pngenc ! multifilesink location={}/bars%02d.png",
            dir.path().display()
        ),
    );
    let mut source = RecordedSource::open(&options(dir.path(), 90, Some(30))).unwrap();
    assert_eq!(source.analysis_size(), (90, 30));
    let frame = source.next_frame().unwrap().unwrap();
    assert_eq!(frame.luma.dim(), (30, 90));
    let first_row = frame.luma.row(0);
    assert!(
        first_row.iter().any(|&v| v != first_row[0]),
        "bars are visible"
    );
    for row in frame.luma.rows() {
        assert_eq!(row, first_row);
    }
}

#[test]
fn h265_mkv_decodes_to_video_range_white() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("white.mkv");
    test_video(
        "white",
        64,
        64,
        5,
        &format!(
            "x265enc speed-preset=ultrafast ! h265parse ! matroskamux ! filesink location={}",
            path.display()
        ),
    );
    let (source, drained) = open_and_drain(&options(&path, 32, None));
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(source.analysis_size(), (32, 32));
    assert_eq!(drained.frames, 5);
    assert!(
        (233..=237).contains(&drained.min_luma) && (233..=237).contains(&drained.max_luma),
        "{drained:?}"
    );
}

/// A CDnet-style folder: `dir/input/in000001.jpg` .. `in{frames:06}.jpg`.
fn cdnet_jpegs(dir: &Path, frames: u32) -> PathBuf {
    let input = dir.join("input");
    std::fs::create_dir(&input).unwrap();
    test_video(
        "ball",
        64,
        48,
        frames,
        &format!(
            "jpegenc ! multifilesink location={}/in%06d.jpg index=1",
            input.display()
        ),
    );
    input
}

#[test]
fn cdnet_jpeg_sequence_is_numbered_from_one() {
    let dir = tempfile::tempdir().unwrap();
    cdnet_jpegs(dir.path(), 12);
    let mut source = RecordedSource::open(&options(dir.path(), 64, None)).unwrap();
    assert_eq!(source.first_frame_number(), 1);
    assert_eq!(source.frame_count_hint(), Some(12));
    assert_eq!(source.analysis_size(), (64, 48));
    let first = source.next_frame().unwrap().unwrap();
    let second = source.next_frame().unwrap().unwrap();
    assert_eq!((first.seq, first.pts_nanos), (0, 0));
    assert_eq!((second.seq, second.pts_nanos), (1, 40_000_000));
    let rest = drain(&mut source);
    assert!(rest.error.is_none(), "{:?}", rest.error);
    assert_eq!(rest.frames, 10);
}

#[test]
fn png_and_bmp_sequences_are_numbered_from_their_first_file() {
    // pattern, encoder, file pattern (0-based), expected luma (RGB sources give full range)
    let cases = [
        ("white", "pngenc", "f%03d.png", 255),
        ("black", "avenc_bmp", "b%05d.bmp", 0),
    ];
    for (pattern, encoder, file_pattern, luma) in cases {
        let dir = tempfile::tempdir().unwrap();
        test_video(
            pattern,
            40,
            30,
            6,
            &format!(
                "videoconvert ! {encoder} ! multifilesink location={}/{file_pattern}",
                dir.path().display()
            ),
        );
        let (source, drained) = open_and_drain(&options(dir.path(), 20, None));
        assert!(drained.error.is_none(), "{encoder}: {:?}", drained.error);
        assert_eq!(source.first_frame_number(), 0, "{encoder}");
        assert_eq!(drained.frames, 6, "{encoder}");
        assert_eq!(drained.shape, (15, 20), "{encoder}");
        assert_eq!(
            (drained.min_luma, drained.max_luma),
            (luma, luma),
            "{encoder}"
        );
    }
}

#[test]
fn corrupt_jpeg_in_a_sequence_is_named_after_the_good_frames_before_it() {
    // how file 4 is damaged
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 4] = [
        ("truncated", |bytes| bytes.truncate(bytes.len() * 8 / 10)),
        ("garbage", |bytes| *bytes = b"this is not a jpeg".repeat(50)),
        ("empty", |bytes| bytes.clear()),
        ("scrambled scan data", |bytes| {
            let middle = bytes.len() / 2;
            for byte in &mut bytes[middle - 200..middle + 200] {
                *byte = byte.wrapping_mul(7).wrapping_add(13);
            }
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = cdnet_jpegs(dir.path(), 6);
    let victim = input.join("in000004.jpg");
    let original = std::fs::read(&victim).unwrap();
    for (damage, apply) in damages {
        let mut bytes = original.clone();
        apply(&mut bytes);
        std::fs::write(&victim, &bytes).unwrap();

        let result = RecordedSource::open(&options(dir.path(), 64, None));
        let (frames, error) = match result {
            Ok(mut source) => {
                let drained = drain(&mut source);
                (drained.frames, drained.error)
            }
            Err(error) => (0, Some(error)),
        };
        assert_eq!(frames, 3, "{damage}: frames 1..=3 arrive before the error");
        match error {
            Some(IngestError::CorruptFrame {
                file, frame_number, ..
            }) => {
                assert_eq!(frame_number, 4, "{damage}");
                assert_eq!(file, victim, "{damage}");
            }
            other => panic!("{damage}: expected a corrupt frame error, got {other:?}"),
        }
    }
}

#[test]
fn truncated_mp4_is_an_error_naming_the_file() {
    // A recording cut off before its index was written (mp4mux puts moov last: qtdemux finds
    // no stream, or, when decodebin loses that error, the preroll wait runs out), and a partial
    // copy of a fast-start file (moov first, so it plays, then stops halfway without an error).
    for (name, faststart) in [("cut.mp4", false), ("faststart-cut.mp4", true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        test_video(
            "ball",
            160,
            120,
            100,
            &format!(
                "x264enc speed-preset=ultrafast ! mp4mux faststart={faststart} ! filesink location={}",
                path.display()
            ),
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

        let error = match RecordedSource::open(&options(&path, 80, None)) {
            Ok(mut source) => drain(&mut source)
                .error
                .expect("a truncated file must fail"),
            Err(error) => error,
        };
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[test]
fn inputs_that_are_not_footage_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.mp4");
    assert!(matches!(
        RecordedSource::open(&options(&missing, 80, None)),
        Err(IngestError::InputNotFound { path }) if path == missing
    ));

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all\n".repeat(100)).unwrap();
    let error = RecordedSource::open(&options(&text, 80, None)).unwrap_err();
    assert!(
        matches!(error, IngestError::Unsupported { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("notes.mp4"), "{error}");

    let audio = dir.path().join("tone.wav");
    run_pipeline(&format!(
        "audiotestsrc num-buffers=10 ! wavenc ! filesink location={}",
        audio.display()
    ));
    let error = RecordedSource::open(&options(&audio, 80, None)).unwrap_err();
    assert!(
        matches!(error, IngestError::NoVideoStream { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("tone.wav"), "{error}");

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("readme.txt"), "no frames here").unwrap();
    assert!(matches!(
        RecordedSource::open(&options(empty.path(), 80, None)),
        Err(IngestError::NoSequence { .. })
    ));
}

#[test]
fn folder_with_a_gap_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = cdnet_jpegs(dir.path(), 5);
    std::fs::remove_file(input.join("in000003.jpg")).unwrap();
    let error = RecordedSource::open(&options(dir.path(), 64, None)).unwrap_err();
    assert!(
        matches!(&error, IngestError::SequenceGap { missing, .. } if missing == "in000003.jpg"),
        "{error:?}"
    );
    assert!(error.to_string().contains("in000003.jpg"), "{error}");
}
