//! Evidence images: the opt-in, redacted picture of an event, written as a PNG with its SHA-256
//! for the audit log.
//!
//! Owns: [`EvidenceKind`] (a silhouette, or the frame pixelated to blocks no finer than the
//! ceiling allows), the check that a kind is allowed for a camera, rendering, PNG encoding, and
//! writing each file atomically (temporary file, sync, rename) without ever replacing one.
//! Does not own: when to write (the service, on event records), the audit record (the service
//! records the returned [`EvidenceRecord`]) or deleting old files (`retention`).
//!
//! It only ever receives the analysis frame: grey, small, already below the ceiling. It blanks
//! the privacy mask again itself, so a caller that forgot cannot leak masked pixels.
//!
//! ```text
//!  silhouette: foreground mask ─ masked pixels cleared ─► 1-bit PNG, analysis size
//!  pixelated:  luma ─ masked pixels blanked ─ block means ─► 8-bit PNG, one pixel per block
//!                                                          (ceil(w/b) x ceil(h/b))
//!  file: <dir>/<camera>/<event_id>-<frame_seq>.png  (-2, -3, ... if the name is taken)
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sw_core::CameraId;

use crate::PrivacyError;
use crate::ceiling::{min_block_pixels, pixels_per_metre};
use crate::mask::{BLANK_LUMA, PrivacyMask};

/// Default block of pixelated evidence, in analysis pixels: 8 px blocks at the 25 px/m ceiling
/// leave about 3 px/m, a person a column of 2 by 5 blocks.
pub const DEFAULT_BLOCK_PIXELS: u32 = 8;

/// Which redacted picture a camera's evidence is. No kind writes the frame as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceKind {
    /// The foreground mask (what moved, as a white shape on black) at the analysis size.
    Silhouette,
    /// The luma frame averaged over `block_pixels x block_pixels` blocks, one PNG pixel per
    /// block.
    Pixelated { block_pixels: u32 },
}

impl EvidenceKind {
    /// Refuses pixelated evidence whose blocks would be finer than `max_pixels_per_metre`
    /// allows at `width_pixels` over `scene_width_m`, or whose scene width is unknown.
    /// Silhouettes are always allowed.
    pub fn check(
        &self,
        camera: &CameraId,
        width_pixels: u32,
        scene_width_m: Option<f64>,
        max_pixels_per_metre: f64,
    ) -> Result<(), PrivacyError> {
        let EvidenceKind::Pixelated { block_pixels } = *self else {
            return Ok(());
        };
        let Some(scene_width_m) = scene_width_m else {
            return Err(PrivacyError::EvidenceNeedsSceneWidth {
                camera: camera.clone(),
            });
        };
        let density = pixels_per_metre(width_pixels, scene_width_m);
        let min_block = min_block_pixels(density, max_pixels_per_metre);
        if block_pixels < min_block {
            return Err(PrivacyError::EvidenceBlockTooFine {
                camera: camera.clone(),
                block_pixels,
                min_block_pixels: min_block,
                width_pixels,
                pixels_per_metre: density,
                max_pixels_per_metre,
            });
        }
        Ok(())
    }
}

/// A camera's evidence settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceOptions {
    /// Root folder; files go to `<dir>/<camera>/`.
    pub dir: PathBuf,
    pub camera: CameraId,
    pub kind: EvidenceKind,
    /// Width of the watched scene, metres (required for pixelated evidence).
    pub scene_width_m: Option<f64>,
    /// The ceiling the blocks must bring the density down to, px/m.
    pub max_pixels_per_metre: f64,
}

/// One evidence file written: what the service records in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRecord {
    pub camera: CameraId,
    pub event_id: u64,
    pub frame_seq: u64,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    pub size_bytes: u64,
    /// Pixels of the PNG (never more than the analysis frame).
    pub width: u32,
    pub height: u32,
    #[serde(flatten)]
    pub kind: EvidenceKind,
}

/// Writes one camera's evidence images. Buffers are reused from image to image.
#[derive(Debug)]
pub struct EvidenceWriter {
    options: EvidenceOptions,
    /// Image rows as they go into the PNG (packed bits or block means).
    pixels: Vec<u8>,
    /// Block sums for pixelation.
    sums: Vec<u32>,
    png: Vec<u8>,
}

/// Names tried per event and frame before giving up (`-2` ... `-99`).
const MAX_NAME_SUFFIX: u32 = 99;

impl EvidenceWriter {
    pub fn new(options: EvidenceOptions) -> Self {
        Self {
            options,
            pixels: Vec::new(),
            sums: Vec::new(),
            png: Vec::new(),
        }
    }

    pub fn options(&self) -> &EvidenceOptions {
        &self.options
    }

    /// Renders and writes the evidence of frame `frame_seq` of event `event_id` from its
    /// analysis frame `luma` and the detector's `foreground` (both `(height, width)`, the size
    /// of `mask`). Returns the file's path and hash for the audit log.
    pub fn write(
        &mut self,
        event_id: u64,
        frame_seq: u64,
        luma: ArrayView2<u8>,
        foreground: ArrayView2<u8>,
        mask: &PrivacyMask,
    ) -> Result<EvidenceRecord, PrivacyError> {
        mask.check_size("luma frame", luma.dim())?;
        mask.check_size("foreground mask", foreground.dim())?;
        let (width, height) = match self.options.kind {
            EvidenceKind::Silhouette => self.silhouette(foreground, mask),
            EvidenceKind::Pixelated { block_pixels } => {
                self.options.kind.check(
                    &self.options.camera,
                    luma.ncols() as u32,
                    self.options.scene_width_m,
                    self.options.max_pixels_per_metre,
                )?;
                self.pixelate(luma, mask, block_pixels as usize)
            }
        };
        let bit_depth = match self.options.kind {
            EvidenceKind::Silhouette => png::BitDepth::One,
            EvidenceKind::Pixelated { .. } => png::BitDepth::Eight,
        };
        let folder = self.options.dir.join(self.options.camera.as_str());
        let fail = |path: &Path, source| PrivacyError::EvidenceWrite {
            camera: self.options.camera.clone(),
            path: path.to_owned(),
            source,
        };
        encode_png(&mut self.png, width, height, bit_depth, &self.pixels)
            .map_err(|source| fail(&folder, source))?;
        fs::create_dir_all(&folder).map_err(|source| fail(&folder, source))?;
        let temporary = folder.join(".evidence.png.tmp");
        write_synced(&temporary, &self.png).map_err(|source| fail(&temporary, source))?;
        // Only this camera's thread writes here, so a free name stays free until the rename.
        let path = (1..=MAX_NAME_SUFFIX)
            .map(|n| match n {
                1 => folder.join(format!("{event_id}-{frame_seq}.png")),
                n => folder.join(format!("{event_id}-{frame_seq}-{n}.png")),
            })
            .find(|path| !matches!(path.try_exists(), Ok(true)))
            .ok_or_else(|| {
                let taken = folder.join(format!("{event_id}-{frame_seq}-{MAX_NAME_SUFFIX}.png"));
                fail(&taken, std::io::ErrorKind::AlreadyExists.into())
            })?;
        fs::rename(&temporary, &path).map_err(|source| fail(&path, source))?;
        Ok(EvidenceRecord {
            camera: self.options.camera.clone(),
            event_id,
            frame_seq,
            path,
            sha256: format!("{:x}", Sha256::digest(&self.png)),
            size_bytes: self.png.len() as u64,
            width: width as u32,
            height: height as u32,
            kind: self.options.kind,
        })
    }

    /// Packs the unmasked foreground, one bit per pixel (1 = moved), rows padded to bytes.
    fn silhouette(&mut self, foreground: ArrayView2<u8>, mask: &PrivacyMask) -> (usize, usize) {
        let (height, width) = foreground.dim();
        let row_bytes = width.div_ceil(8);
        self.pixels.clear();
        self.pixels.resize(row_bytes * height, 0);
        let covered = mask.covered();
        for ((row, col), &value) in foreground.indexed_iter() {
            if value != 0 && !covered[[row, col]] {
                self.pixels[row * row_bytes + col / 8] |= 0x80 >> (col % 8);
            }
        }
        (width, height)
    }

    /// Means of `block x block` blocks of the frame with masked pixels blanked (edge blocks
    /// average the pixels they have), rounded to nearest.
    fn pixelate(
        &mut self,
        luma: ArrayView2<u8>,
        mask: &PrivacyMask,
        block: usize,
    ) -> (usize, usize) {
        let (height, width) = luma.dim();
        let block = block.max(1);
        let (out_width, out_height) = (width.div_ceil(block), height.div_ceil(block));
        self.sums.clear();
        self.sums.resize(out_width * out_height, 0);
        let covered = mask.covered();
        for ((row, col), &value) in luma.indexed_iter() {
            let value = if covered[[row, col]] {
                BLANK_LUMA
            } else {
                value
            };
            self.sums[(row / block) * out_width + col / block] += u32::from(value);
        }
        self.pixels.clear();
        self.pixels
            .extend(self.sums.iter().enumerate().map(|(index, &sum)| {
                let (block_row, block_col) = (index / out_width, index % out_width);
                let rows = block.min(height - block_row * block);
                let cols = block.min(width - block_col * block);
                let count = (rows * cols) as u32;
                ((sum + count / 2) / count) as u8
            }));
        (out_width, out_height)
    }
}

/// Encodes grayscale `pixels` as a PNG into `out` (replacing what it held).
fn encode_png(
    out: &mut Vec<u8>,
    width: usize,
    height: usize,
    bit_depth: png::BitDepth,
    pixels: &[u8],
) -> std::io::Result<()> {
    out.clear();
    let mut encoder = png::Encoder::new(&mut *out, width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(bit_depth);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(pixels)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}

/// Writes `bytes` to `path` (created or truncated) and syncs them to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, s};

    use super::*;
    use crate::polygon::Polygon;

    fn camera() -> CameraId {
        CameraId::new("yard").unwrap()
    }

    fn options(dir: &Path, kind: EvidenceKind) -> EvidenceOptions {
        EvidenceOptions {
            dir: dir.to_owned(),
            camera: camera(),
            kind,
            scene_width_m: Some(2.0),
            max_pixels_per_metre: 25.0,
        }
    }

    /// Masks the left quarter of a 20x10 frame.
    fn mask() -> PrivacyMask {
        let left = Polygon::new(vec![[0.0, 0.0], [0.25, 0.0], [0.25, 1.0], [0.0, 1.0]]).unwrap();
        PrivacyMask::new(&[left], 20, 10)
    }

    /// Decodes a written PNG: (width, height, bit depth, raw rows).
    fn decode(path: &Path) -> (u32, u32, png::BitDepth, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buffer).unwrap();
        buffer.truncate(info.buffer_size());
        (info.width, info.height, info.bit_depth, buffer)
    }

    fn check_hash(record: &EvidenceRecord) {
        let bytes = fs::read(&record.path).unwrap();
        assert_eq!(record.sha256, format!("{:x}", Sha256::digest(&bytes)));
        assert_eq!(record.size_bytes, bytes.len() as u64);
    }

    #[test]
    fn a_silhouette_is_the_unmasked_foreground_at_the_analysis_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EvidenceWriter::new(options(dir.path(), EvidenceKind::Silhouette));
        let luma = Array2::from_elem((10, 20), 120_u8);
        // Foreground across the whole third row, masked part included.
        let mut foreground = Array2::zeros((10, 20));
        foreground.slice_mut(s![2, ..]).fill(255_u8);
        let record = writer
            .write(3, 41, luma.view(), foreground.view(), &mask())
            .unwrap();
        assert_eq!(record.path, dir.path().join("yard").join("3-41.png"));
        check_hash(&record);
        let (width, height, depth, rows) = decode(&record.path);
        assert_eq!((width, height, depth), (20, 10, png::BitDepth::One));
        // 3 bytes per row; row 2 has columns 5..20 set.
        assert_eq!(&rows[6..9], &[0b0000_0111, 0xff, 0xf0]);
        assert_eq!(rows.iter().map(|b| b.count_ones()).sum::<u32>(), 15);
        assert_eq!((record.width, record.height), (20, 10));
    }

    #[test]
    fn pixelated_evidence_is_blanked_and_one_pixel_per_block() {
        let dir = tempfile::tempdir().unwrap();
        let kind = EvidenceKind::Pixelated { block_pixels: 4 };
        let mut writer = EvidenceWriter::new(options(dir.path(), kind));
        // Columns 0..10 at 200, 10..20 at 100; foreground unused.
        let luma = Array2::from_shape_fn((10, 20), |(_, col)| if col < 10 { 200_u8 } else { 100 });
        let foreground = Array2::zeros((10, 20));
        let record = writer
            .write(1, 7, luma.view(), foreground.view(), &mask())
            .unwrap();
        check_hash(&record);
        let (width, height, depth, pixels) = decode(&record.path);
        assert_eq!((width, height, depth), (5, 3, png::BitDepth::Eight));
        // Block columns: 0..4 masked (16), 4..8 one masked column (16*1 + 200*3)/4 = 154,
        // 8..12 half and half 150, 12..16 and 16..20 at 100. Rows: 4, 4, 2 pixels tall.
        let b = BLANK_LUMA;
        let row = [b, 154, 150, 100, 100];
        assert_eq!(pixels, [row, row, row].concat());
    }

    #[test]
    fn a_taken_name_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EvidenceWriter::new(options(dir.path(), EvidenceKind::Silhouette));
        let frame = Array2::zeros((10, 20));
        let first = writer
            .write(1, 5, frame.view(), frame.view(), &mask())
            .unwrap();
        let second = writer
            .write(1, 5, frame.view(), frame.view(), &mask())
            .unwrap();
        assert_eq!(first.path.file_name().unwrap(), "1-5.png");
        assert_eq!(second.path.file_name().unwrap(), "1-5-2.png");
        check_hash(&first);
        let names: Vec<_> = fs::read_dir(dir.path().join("yard"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn blocks_finer_than_the_ceiling_are_refused() {
        let gate = camera();
        // 20 px over 2 m is 10 px/m: 2 px blocks are the least. 64 px/m needs 3 px blocks.
        let table = [
            (EvidenceKind::Silhouette, 640, None, Ok(())),
            (
                EvidenceKind::Pixelated { block_pixels: 2 },
                20,
                Some(2.0),
                Ok(()),
            ),
            (
                EvidenceKind::Pixelated { block_pixels: 1 },
                20,
                Some(2.0),
                Err(
                    "camera yard: evidence blocks of 1 px leave 10 px/m at an analysis width of 20 px; blocks must be at least 2 px to stay within the ceiling of 25 px/m",
                ),
            ),
            (
                EvidenceKind::Pixelated { block_pixels: 2 },
                640,
                Some(10.0),
                Err(
                    "camera yard: evidence blocks of 2 px leave 32 px/m at an analysis width of 640 px; blocks must be at least 3 px to stay within the ceiling of 25 px/m",
                ),
            ),
            (
                EvidenceKind::Pixelated { block_pixels: 3 },
                640,
                Some(10.0),
                Ok(()),
            ),
            (
                EvidenceKind::Pixelated { block_pixels: 8 },
                320,
                None,
                Err(
                    "camera yard: pixelated evidence needs `scene_width_m`, to make its blocks coarse enough for the ceiling; give it, or use `evidence = \"silhouette\"`",
                ),
            ),
        ];
        for (kind, width, scene, expected) in table {
            let got = kind
                .check(&gate, width, scene, 25.0)
                .map_err(|e| e.to_string());
            assert_eq!(
                got,
                expected.map_err(str::to_owned),
                "{kind:?} at {width} px"
            );
        }
        // The writer checks again at the frame's own width: 20 px over 0.2 m is 100 px/m.
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EvidenceWriter::new(EvidenceOptions {
            scene_width_m: Some(0.2),
            ..options(dir.path(), EvidenceKind::Pixelated { block_pixels: 2 })
        });
        let frame = Array2::zeros((10, 20));
        assert!(
            writer
                .write(1, 1, frame.view(), frame.view(), &mask())
                .is_err()
        );
        assert!(!dir.path().join("yard").exists(), "nothing written");
    }
}
