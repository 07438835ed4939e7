//! Finding and reading ground truth: the CDnet 2014 layout and Wallflower's hand-segmented
//! frames, both turned into CDnet labels with the spatial ROI applied.
//!
//! Owns: recognising a layout on disk, `temporalROI.txt`, `ROI.bmp`, decoding GT images,
//! thresholding Wallflower's, and checking sizes. Does not own: scoring (`counts`, `scorer`).
//!
//! CDnet 2014 (`<seq>/groundtruth/gt%06d.png`, 1-based): 8-bit labels 0 static, 50 shadow,
//! 85 outside ROI, 170 unknown, 255 motion. `<seq>/ROI.bmp` (non-zero = evaluate) and
//! `<seq>/temporalROI.txt` ("first last", 1-based, inclusive) are optional: without the ROI the
//! whole frame is evaluated, without the temporal ROI every frame with a GT file is scored.
//! A ROI larger than the GT frame is cropped to it from the top-left (CDnet's
//! `cameraJitter/traffic/ROI.bmp` is 352x240 over 320x240 frames); a smaller one is an error.
//!
//! Wallflower (`hand_segmented_NNNNN.BMP` beside `bNNNNN.bmp`, 0-based): white is motion,
//! black background; grey anti-aliased pixels are motion from 128 up. Only frames with a
//! hand-segmented image are scored, over the whole frame.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use image::ImageReader;
use ndarray::{Array2, Zip};
use serde::Serialize;

use crate::EvalError;
use crate::counts::{LABEL_MOTION, LABEL_OUTSIDE_ROI, LABEL_STATIC};

/// Wallflower's threshold: a hand-segmented pixel is motion when its luma is at least this.
const WALLFLOWER_MOTION_MIN_LUMA: u8 = 128;

/// Which dataset layout the ground truth came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroundTruthKind {
    Cdnet,
    Wallflower,
}

/// A sequence's ground truth: which frames are scored, and their labels.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    kind: GroundTruthKind,
    /// Where the GT images are (CDnet's `groundtruth/`, or the Wallflower folder).
    folder: PathBuf,
    /// Every GT image on disk, by frame number.
    files: BTreeMap<u64, PathBuf>,
    /// `Some((first, last))` from `temporalROI.txt`; `None`: every frame in `files`.
    temporal_roi: Option<(u64, u64)>,
    /// Shape `(rows, cols)` of every GT image.
    shape: (usize, usize),
    /// Where labels are evaluated, cropped to `shape`; `None` when that is everywhere.
    roi: Option<Array2<bool>>,
}

impl GroundTruth {
    /// Finds the ground truth for an input, if it has any: `input` may be a CDnet sequence
    /// folder, its `input/` folder, a Wallflower folder, or a file or `%d` pattern inside one
    /// of those. `Ok(None)` when none of these hold ground truth; an error when some does but
    /// cannot be read.
    pub fn discover(input: &Path) -> Result<Option<GroundTruth>, EvalError> {
        let folder = if input.is_dir() {
            input
        } else {
            match input.parent() {
                Some(parent) if parent.is_dir() => parent,
                _ => return Ok(None),
            }
        };
        let sequence = (folder.file_name().is_some_and(|name| name == "input"))
            .then(|| folder.parent())
            .flatten();
        for candidate in [Some(folder), sequence].into_iter().flatten() {
            if let Some(layout) = Layout::recognise(candidate)? {
                return layout.load().map(Some);
            }
        }
        Ok(None)
    }

    /// Opens ground truth at `path`: a CDnet sequence folder, a CDnet `groundtruth/` folder
    /// (ROI and temporal ROI then come from its parent), a Wallflower folder, or one
    /// `hand_segmented_NNNNN.BMP` file.
    pub fn open(path: &Path) -> Result<GroundTruth, EvalError> {
        let layout = if path.is_file() {
            wallflower_frame_number(path).map(|frame_number| Layout::Wallflower {
                folder: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                files: BTreeMap::from([(frame_number, path.to_path_buf())]),
            })
        } else {
            Layout::recognise(path)?
        };
        layout
            .ok_or_else(|| EvalError::NotFound {
                path: path.to_path_buf(),
            })?
            .load()
    }

    pub fn kind(&self) -> GroundTruthKind {
        self.kind
    }

    /// The folder holding the GT images.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// `(width, height)` of the ground truth, which masks are resized to before scoring.
    pub fn frame_size(&self) -> (usize, usize) {
        (self.shape.1, self.shape.0)
    }

    /// Where labels are evaluated (`true`), at the GT size; `None` when that is the whole frame.
    pub fn roi(&self) -> Option<&Array2<bool>> {
        self.roi.as_ref()
    }

    /// Whether `frame_number` (the dataset's own numbering) is scored.
    pub fn is_scored(&self, frame_number: u64) -> bool {
        match self.temporal_roi {
            Some((first, last)) => (first..=last).contains(&frame_number),
            None => self.files.contains_key(&frame_number),
        }
    }

    /// The first and last scored frame numbers.
    pub fn scored_range(&self) -> (u64, u64) {
        self.temporal_roi.unwrap_or_else(|| {
            let first = self.files.keys().next().copied().unwrap_or(0);
            let last = self.files.keys().next_back().copied().unwrap_or(0);
            (first, last)
        })
    }

    /// How many frames are scored.
    pub fn scored_frame_count(&self) -> u64 {
        match self.temporal_roi {
            Some((first, last)) => last - first + 1,
            None => self.files.len() as u64,
        }
    }

    /// The labels of `frame_number` (shape `(rows, cols)`): CDnet's values, with every pixel
    /// outside the ROI set to 85. Works for any frame with a GT file, scored or not.
    pub fn labels(&self, frame_number: u64) -> Result<Array2<u8>, EvalError> {
        let path = self.path_of(frame_number);
        let mut labels = read_labels(self.kind, &path, frame_number)?;
        if labels.dim() != self.shape {
            return Err(EvalError::GroundTruthSize {
                path,
                frame_number,
                width: labels.ncols(),
                height: labels.nrows(),
                expected_width: self.shape.1,
                expected_height: self.shape.0,
            });
        }
        if let Some(roi) = &self.roi {
            Zip::from(&mut labels).and(roi).for_each(|label, &inside| {
                if !inside {
                    *label = LABEL_OUTSIDE_ROI;
                }
            });
        }
        Ok(labels)
    }

    /// The GT file for `frame_number`, or where it would be.
    fn path_of(&self, frame_number: u64) -> PathBuf {
        match (self.files.get(&frame_number), self.kind) {
            (Some(path), _) => path.clone(),
            (None, GroundTruthKind::Cdnet) => self.folder.join(format!("gt{frame_number:06}.png")),
            (None, GroundTruthKind::Wallflower) => self
                .folder
                .join(format!("hand_segmented_{frame_number:05}.BMP")),
        }
    }
}

/// A layout recognised on disk, before anything is decoded.
#[derive(Debug)]
enum Layout {
    Cdnet {
        /// The `groundtruth/` folder.
        folder: PathBuf,
        /// Where `ROI.bmp` and `temporalROI.txt` are looked for.
        sequence: PathBuf,
        files: BTreeMap<u64, PathBuf>,
    },
    Wallflower {
        folder: PathBuf,
        files: BTreeMap<u64, PathBuf>,
    },
}

impl Layout {
    /// What `dir` holds: a CDnet sequence, a CDnet `groundtruth/` folder, a Wallflower
    /// folder, or (`None`) none of those.
    fn recognise(dir: &Path) -> Result<Option<Layout>, EvalError> {
        let groundtruth = dir.join("groundtruth");
        if groundtruth.is_dir() {
            let files = list_files(&groundtruth, cdnet_frame_number)?;
            if files.is_empty() {
                return Err(EvalError::NoGroundTruthFiles { path: groundtruth });
            }
            return Ok(Some(Layout::Cdnet {
                folder: groundtruth,
                sequence: dir.to_path_buf(),
                files,
            }));
        }
        if !dir.is_dir() {
            return Ok(None);
        }
        let files = list_files(dir, cdnet_frame_number)?;
        if !files.is_empty() {
            return Ok(Some(Layout::Cdnet {
                folder: dir.to_path_buf(),
                sequence: dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
                files,
            }));
        }
        let files = list_files(dir, wallflower_frame_number)?;
        if !files.is_empty() {
            return Ok(Some(Layout::Wallflower {
                folder: dir.to_path_buf(),
                files,
            }));
        }
        Ok(None)
    }

    /// Reads the temporal ROI and ROI, checks every scored frame has a GT file, and decodes
    /// the first scored one to learn the frame size.
    fn load(self) -> Result<GroundTruth, EvalError> {
        let (kind, folder, files, temporal_roi, roi_path) = match self {
            Layout::Cdnet {
                folder,
                sequence,
                files,
            } => {
                let temporal_roi = read_temporal_roi(&sequence.join("temporalROI.txt"))?;
                let roi_path = Some(sequence.join("ROI.bmp")).filter(|path| path.is_file());
                (
                    GroundTruthKind::Cdnet,
                    folder,
                    files,
                    temporal_roi,
                    roi_path,
                )
            }
            Layout::Wallflower { folder, files } => {
                (GroundTruthKind::Wallflower, folder, files, None, None)
            }
        };
        let mut truth = GroundTruth {
            kind,
            folder,
            files,
            temporal_roi,
            shape: (0, 0),
            roi: None,
        };
        if let Some((first, last)) = temporal_roi
            && let Some(frame_number) = (first..=last).find(|n| !truth.files.contains_key(n))
        {
            return Err(EvalError::MissingGroundTruth {
                path: truth.path_of(frame_number),
                frame_number,
            });
        }
        let first_scored = truth.scored_range().0;
        truth.shape = read_labels(kind, &truth.path_of(first_scored), first_scored)?.dim();
        if let Some(path) = roi_path {
            truth.roi = read_roi(&path, truth.shape)?;
        }
        Ok(truth)
    }
}

/// The files in `dir` whose names `frame_number_of` understands, by frame number.
fn list_files(
    dir: &Path,
    frame_number_of: fn(&Path) -> Option<u64>,
) -> Result<BTreeMap<u64, PathBuf>, EvalError> {
    let io_error = |source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if let Some(frame_number) = frame_number_of(&path) {
            files.insert(frame_number, path);
        }
    }
    Ok(files)
}

/// `gt000123.png` -> 123.
fn cdnet_frame_number(path: &Path) -> Option<u64> {
    numbered_name(path, "gt", ".png")
}

/// `hand_segmented_00247.BMP` -> 247 (any case).
fn wallflower_frame_number(path: &Path) -> Option<u64> {
    numbered_name(path, "hand_segmented_", ".bmp")
}

/// The number between `prefix` and `suffix` (matched case-insensitively) in `path`'s name.
fn numbered_name(path: &Path, prefix: &str, suffix: &str) -> Option<u64> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads `temporalROI.txt`; `Ok(None)` when there is none.
fn read_temporal_roi(path: &Path) -> Result<Option<(u64, u64)>, EvalError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(EvalError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse_temporal_roi(&text)
        .map(Some)
        .ok_or_else(|| EvalError::TemporalRoi {
            path: path.to_path_buf(),
            line: text.trim().chars().take(80).collect(),
        })
}

/// `"first last"` (1-based, inclusive, whitespace around ignored) -> `(first, last)`.
fn parse_temporal_roi(text: &str) -> Option<(u64, u64)> {
    let mut numbers = text.trim_start_matches('\u{feff}').split_whitespace();
    let (first, last) = (numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?);
    (numbers.next().is_none() && 1 <= first && first <= last).then_some((first, last))
}

/// Decodes a GT image of `kind` into CDnet labels, before the ROI.
fn read_labels(
    kind: GroundTruthKind,
    path: &Path,
    frame_number: u64,
) -> Result<Array2<u8>, EvalError> {
    if !path.is_file() {
        return Err(EvalError::MissingGroundTruth {
            path: path.to_path_buf(),
            frame_number,
        });
    }
    let mut labels = decode_luma(path).map_err(|source| EvalError::GroundTruthImage {
        path: path.to_path_buf(),
        frame_number,
        source,
    })?;
    if kind == GroundTruthKind::Wallflower {
        labels.mapv_inplace(|luma| {
            if luma >= WALLFLOWER_MOTION_MIN_LUMA {
                LABEL_MOTION
            } else {
                LABEL_STATIC
            }
        });
    }
    Ok(labels)
}

/// Reads `ROI.bmp` and crops it top-left to `shape`; `None` when it covers the whole frame.
fn read_roi(path: &Path, shape: (usize, usize)) -> Result<Option<Array2<bool>>, EvalError> {
    let luma = decode_luma(path).map_err(|source| EvalError::RoiImage {
        path: path.to_path_buf(),
        source,
    })?;
    let (rows, cols) = shape;
    if luma.nrows() < rows || luma.ncols() < cols {
        return Err(EvalError::RoiTooSmall {
            path: path.to_path_buf(),
            roi_width: luma.ncols(),
            roi_height: luma.nrows(),
            width: cols,
            height: rows,
        });
    }
    let roi = luma
        .slice(ndarray::s![..rows, ..cols])
        .mapv(|luma| luma != 0);
    Ok((!roi.iter().all(|&inside| inside)).then_some(roi))
}

/// Decodes any image the `image` crate reads into 8-bit luma, shape `(rows, cols)`.
/// Palette images (CDnet's GT PNGs and ROI BMPs) expand to their grey palette values.
fn decode_luma(path: &Path) -> Result<Array2<u8>, image::ImageError> {
    let luma = ImageReader::open(path)?
        .with_guessed_format()?
        .decode()?
        .into_luma8();
    let shape = (luma.height() as usize, luma.width() as usize);
    Ok(Array2::from_shape_vec(shape, luma.into_raw())
        .expect("a luma image holds width * height bytes"))
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma};

    use super::*;

    #[test]
    fn temporal_roi_parses_with_or_without_newline_and_rejects_garbage() {
        let table: [(&str, Option<(u64, u64)>); 14] = [
            ("470 1700", Some((470, 1700))),
            ("470 1700\n", Some((470, 1700))),
            ("570 2050\r\n", Some((570, 2050))),
            ("  900\t1570  \n\n", Some((900, 1570))),
            ("\u{feff}1 1", Some((1, 1))),
            ("5 5", Some((5, 5))),
            ("", None),
            ("470", None),
            ("470 1700 1800", None),
            ("1700 470", None),
            ("0 10", None),
            ("-1 10", None),
            ("470,1700", None),
            ("start end", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_temporal_roi(text), expected, "{text:?}");
        }
    }

    #[test]
    fn frame_numbers_come_from_file_names() {
        let table: [(&str, Option<u64>, Option<u64>); 7] = [
            ("gt000001.png", Some(1), None),
            ("gt002050.png", Some(2050), None),
            ("GT000007.PNG", Some(7), None),
            ("gt.png", None, None),
            ("gt00001a.png", None, None),
            ("hand_segmented_00247.BMP", None, Some(247)),
            ("b00247.bmp", None, None),
        ];
        for (name, cdnet, wallflower) in table {
            assert_eq!(cdnet_frame_number(Path::new(name)), cdnet, "{name}");
            assert_eq!(
                wallflower_frame_number(Path::new(name)),
                wallflower,
                "{name}"
            );
        }
    }

    /// Writes a CDnet-like sequence: `gt` images (rows of labels), optional ROI and temporal ROI.
    fn write_sequence(
        dir: &Path,
        gt: &[(u64, &[&[u8]])],
        roi: Option<&[&[u8]]>,
        temporal_roi: Option<&str>,
    ) {
        let groundtruth = dir.join("groundtruth");
        fs::create_dir_all(&groundtruth).unwrap();
        for (frame_number, rows) in gt {
            gray(rows)
                .save(groundtruth.join(format!("gt{frame_number:06}.png")))
                .unwrap();
        }
        if let Some(rows) = roi {
            gray(rows).save(dir.join("ROI.bmp")).unwrap();
        }
        if let Some(text) = temporal_roi {
            fs::write(dir.join("temporalROI.txt"), text).unwrap();
        }
    }

    fn gray(rows: &[&[u8]]) -> GrayImage {
        GrayImage::from_fn(rows[0].len() as u32, rows.len() as u32, |x, y| {
            Luma([rows[y as usize][x as usize]])
        })
    }

    #[test]
    fn cdnet_labels_get_the_roi_cropped_top_left() {
        let dir = tempfile::tempdir().unwrap();
        let gt: &[&[u8]] = &[&[0, 50, 255], &[170, 255, 0]];
        // 4x3 ROI over a 3x2 frame: the extra column and row are cropped away.
        let roi: &[&[u8]] = &[&[255, 0, 255, 0], &[255, 255, 0, 0], &[0, 0, 0, 0]];
        write_sequence(dir.path(), &[(1, gt), (2, gt)], Some(roi), Some("2 2"));
        let truth = GroundTruth::open(dir.path()).unwrap();
        assert_eq!(truth.kind(), GroundTruthKind::Cdnet);
        assert_eq!(truth.frame_size(), (3, 2));
        assert_eq!(
            truth.labels(2).unwrap(),
            ndarray::array![[0, 85, 255], [170, 255, 85]]
        );
        // Unscored frames with a file can still be read; scoring is the temporal ROI.
        assert_eq!(truth.labels(1).unwrap()[[0, 1]], 85);
        let scored: Vec<bool> = (0..4).map(|n| truth.is_scored(n)).collect();
        assert_eq!(scored, [false, false, true, false]);
        assert_eq!(
            (truth.scored_range(), truth.scored_frame_count()),
            ((2, 2), 1)
        );
    }

    #[test]
    fn an_all_white_roi_means_the_whole_frame() {
        let dir = tempfile::tempdir().unwrap();
        write_sequence(
            dir.path(),
            &[(1, &[&[0, 255]])],
            Some(&[&[255, 1, 7]]),
            None,
        );
        assert!(GroundTruth::open(dir.path()).unwrap().roi().is_none());
    }

    #[test]
    fn a_groundtruth_folder_alone_scores_every_gt_file() {
        let dir = tempfile::tempdir().unwrap();
        let gt: &[&[u8]] = &[&[255]];
        write_sequence(dir.path(), &[(3, gt), (4, gt), (7, gt)], None, None);
        let truth = GroundTruth::open(&dir.path().join("groundtruth")).unwrap();
        let scored: Vec<u64> = (0..10).filter(|&n| truth.is_scored(n)).collect();
        assert_eq!(scored, [3, 4, 7]);
        assert_eq!(
            (truth.scored_range(), truth.scored_frame_count()),
            ((3, 7), 3)
        );
        assert!(truth.roi().is_none());
    }

    #[test]
    fn a_groundtruth_folder_takes_roi_and_temporal_roi_from_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let gt: &[&[u8]] = &[&[255, 255]];
        write_sequence(
            dir.path(),
            &[(1, gt), (2, gt)],
            Some(&[&[0, 255]]),
            Some("2 2"),
        );
        let truth = GroundTruth::open(&dir.path().join("groundtruth")).unwrap();
        assert!(!truth.is_scored(1));
        assert_eq!(truth.labels(2).unwrap(), ndarray::array![[85, 255]]);
    }

    #[test]
    fn discover_looks_beside_the_input_and_finds_nothing_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        write_sequence(dir.path(), &[(1, &[&[0]])], None, None);
        let input = dir.path().join("input");
        fs::create_dir(&input).unwrap();
        for path in [
            dir.path().to_path_buf(),
            input.clone(),
            input.join("in%06d.jpg"),
        ] {
            let truth = GroundTruth::discover(&path).unwrap();
            assert!(truth.is_some(), "{}", path.display());
        }
        let other = tempfile::tempdir().unwrap();
        assert!(GroundTruth::discover(other.path()).unwrap().is_none());
        assert!(
            GroundTruth::discover(&other.path().join("video.avi"))
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            GroundTruth::open(other.path()),
            Err(EvalError::NotFound { .. })
        ));
    }

    #[test]
    fn wallflower_is_thresholded_at_128_over_the_whole_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hand_segmented_00247.BMP");
        image::DynamicImage::ImageLuma8(gray(&[&[0, 127, 128, 255]]))
            .into_rgb8()
            .save_with_format(&path, image::ImageFormat::Bmp)
            .unwrap();
        for truth in [
            GroundTruth::open(dir.path()).unwrap(),
            GroundTruth::open(&path).unwrap(),
        ] {
            assert_eq!(truth.kind(), GroundTruthKind::Wallflower);
            assert_eq!(
                truth.labels(247).unwrap(),
                ndarray::array![[0, 0, 255, 255]]
            );
            let scored: Vec<u64> = (0..300).filter(|&n| truth.is_scored(n)).collect();
            assert_eq!(scored, [247]);
        }
        assert!(
            GroundTruth::discover(&dir.path().join("b%05d.bmp"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn errors_name_the_file_the_frame_and_the_bad_line() {
        let gt: &[&[u8]] = &[&[0, 0]];
        let small: &[&[u8]] = &[&[0]];

        let dir = tempfile::tempdir().unwrap();
        write_sequence(dir.path(), &[(1, gt), (2, gt)], None, Some("1 3"));
        let err = GroundTruth::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::MissingGroundTruth {
                    frame_number: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("gt000003.png"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write_sequence(dir.path(), &[(1, gt)], None, Some("1 to 2\n"));
        let err = GroundTruth::open(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("temporalROI.txt") && err.to_string().contains("\"1 to 2\""),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write_sequence(dir.path(), &[(1, gt), (2, small)], None, None);
        let truth = GroundTruth::open(dir.path()).unwrap();
        let err = truth.labels(2).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::GroundTruthSize {
                    frame_number: 2,
                    width: 1,
                    expected_width: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("gt000002.png"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write_sequence(dir.path(), &[(1, gt)], Some(small), None);
        let err = GroundTruth::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::RoiTooSmall {
                    roi_width: 1,
                    width: 2,
                    ..
                }
            ),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write_sequence(dir.path(), &[(1, gt)], None, None);
        fs::write(dir.path().join("groundtruth/gt000002.png"), b"not a png").unwrap();
        let truth = GroundTruth::open(dir.path()).unwrap();
        let err = truth.labels(2).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::GroundTruthImage {
                    frame_number: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("gt000002.png"), "{err}");
        let err = truth.labels(9).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::MissingGroundTruth {
                    frame_number: 9,
                    ..
                }
            ),
            "{err}"
        );
    }
}
