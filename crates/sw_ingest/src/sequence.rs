//! Numbered image sequences on disk: finding the pattern in a folder, naming its files, and
//! checking that each file is a whole image before a decoder sees it.
//!
//! Owns: the rules that turn a folder listing into one sequence (prefix + number + extension,
//! the first number is the start index, no gaps), and the per-format framing checks (a JPEG ends
//! with EOI, a PNG with IEND, a BMP holds the bytes its header declares).
//! Does not own: decoding or the GStreamer pipeline (see `recorded`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::IngestError;

/// Names with more digits than this are not read as sequence frames: the numbers must fit
/// multifilesrc's 32-bit index.
const MAX_DIGITS: usize = 9;

/// The still-image formats a sequence may hold, each with the decoder that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Bmp,
}

impl ImageFormat {
    fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "bmp" => Some(Self::Bmp),
            _ => None,
        }
    }

    /// The GStreamer decoder for one file of this format.
    pub fn decoder_factory(self) -> &'static str {
        match self {
            Self::Jpeg => "jpegdec",
            Self::Png => "pngdec",
            Self::Bmp => "avdec_bmp",
        }
    }

    /// Caps for multifilesrc: one buffer per file, marked `parsed` so the decoder takes each
    /// buffer as exactly one image instead of re-splitting the byte stream (which would merge a
    /// truncated file with the next one and blame the wrong file).
    pub fn caps(self, frames_per_second: u32) -> gst::Caps {
        let media_type = match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Bmp => "image/bmp",
        };
        gst::Caps::builder(media_type)
            .field("parsed", true)
            .field(
                "framerate",
                gst::Fraction::new(i32::try_from(frames_per_second).unwrap_or(i32::MAX), 1),
            )
            .build()
    }

    /// Checks that `bytes` hold a whole file of this format, so a truncated file is reported
    /// instead of decoded with grey fill (jpegdec does that silently).
    pub(crate) fn check_framing(self, bytes: &[u8]) -> Result<(), &'static str> {
        if bytes.is_empty() {
            return Err("the file is empty");
        }
        match self {
            Self::Jpeg => {
                if !bytes.starts_with(&[0xFF, 0xD8]) {
                    return Err("not a JPEG file (no start-of-image marker)");
                }
                // EOI (FF D9) cannot occur inside entropy-coded data, so the last one ends the
                // image; only padding may follow it.
                let eoi_end = bytes
                    .windows(2)
                    .rposition(|pair| pair == [0xFF, 0xD9])
                    .map(|position| position + 2);
                match eoi_end {
                    Some(end) if bytes[end..].iter().all(|&b| b == 0x00 || b == 0xFF) => Ok(()),
                    _ => Err("truncated JPEG (no end-of-image marker at the end of the file)"),
                }
            }
            Self::Png => {
                const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
                const IEND: [u8; 8] = [0, 0, 0, 0, b'I', b'E', b'N', b'D'];
                if !bytes.starts_with(&SIGNATURE) {
                    return Err("not a PNG file (bad signature)");
                }
                let tail_start = bytes.len().saturating_sub(12);
                if bytes.len() < SIGNATURE.len() + 12 || bytes[tail_start..tail_start + 8] != IEND {
                    return Err("truncated PNG (no IEND chunk at the end of the file)");
                }
                Ok(())
            }
            Self::Bmp => {
                if bytes.len() < 14 || !bytes.starts_with(b"BM") {
                    return Err("not a BMP file (no BM header)");
                }
                let declared_size = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
                let pixel_offset = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
                let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                // Some writers leave the size field 0; the pixel offset is always set.
                if u64::from(declared_size) > length || u64::from(pixel_offset) >= length {
                    return Err("truncated BMP (shorter than its header declares)");
                }
                Ok(())
            }
        }
    }
}

/// How the number is written in the file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padding {
    /// Always exactly this many digits, zero-padded (`in000001.jpg`: 6).
    Zeros { digits: usize },
    /// As many digits as the number needs (`frame1.png` .. `frame120.png`).
    None,
}

/// One numbered image sequence found in a folder: `{dir}/{prefix}{number}.{extension}` for every
/// number from `first_number` to `last_number()`, none missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSequence {
    pub(crate) dir: PathBuf,
    prefix: String,
    padding: Padding,
    extension: String,
    pub(crate) format: ImageFormat,
    pub(crate) first_number: u64,
    pub(crate) file_count: u64,
}

impl ImageSequence {
    /// Finds the sequence a user means by `path`: `path/input/` when it exists (CDnet layout),
    /// else `path` itself.
    pub fn detect(path: &Path) -> Result<Self, IngestError> {
        let cdnet_input = path.join("input");
        let dir = if cdnet_input.is_dir() {
            cdnet_input
        } else {
            path.to_path_buf()
        };
        let io_error = |source| IngestError::Io {
            path: dir.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            // A name that is not UTF-8 cannot be part of a sequence multifilesrc can open.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Self::from_names(&dir, names.iter().map(String::as_str))
    }

    /// Picks the sequence out of a folder listing: the largest group of names sharing prefix
    /// and extension, which must be numbered without gaps.
    fn from_names<'a>(
        dir: &Path,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, IngestError> {
        // (prefix, extension, format) -> number -> digits as written
        let mut groups: BTreeMap<(&str, &str, ImageFormat), BTreeMap<u64, &str>> = BTreeMap::new();
        for name in names {
            let Some((stem, extension)) = name.rsplit_once('.') else {
                continue;
            };
            let Some(format) = ImageFormat::from_extension(extension) else {
                continue;
            };
            let prefix = stem.trim_end_matches(|c: char| c.is_ascii_digit());
            let digits = &stem[prefix.len()..];
            if digits.is_empty() || digits.len() > MAX_DIGITS {
                continue;
            }
            let Ok(number) = digits.parse::<u64>() else {
                continue;
            };
            let numbers = groups.entry((prefix, extension, format)).or_default();
            if let Some(other) = numbers.insert(number, digits)
                && other != digits
            {
                return Err(IngestError::MixedNumberWidths {
                    dir: dir.to_path_buf(),
                    pattern: format!("{prefix}<number>.{extension}"),
                    example: format!("{prefix}{other}.{extension} and {name}"),
                });
            }
        }

        let mut by_size: Vec<_> = groups.into_iter().collect();
        by_size.sort_by_key(|(_, numbers)| std::cmp::Reverse(numbers.len()));
        let mut ranked = by_size.into_iter();
        let Some(((prefix, extension, format), numbers)) = ranked.next() else {
            return Err(IngestError::NoSequence {
                dir: dir.to_path_buf(),
            });
        };
        if let Some(((other_prefix, other_extension, _), other)) = ranked.next()
            && other.len() == numbers.len()
        {
            return Err(IngestError::AmbiguousSequence {
                dir: dir.to_path_buf(),
                count_each: u64::try_from(numbers.len()).unwrap_or(u64::MAX),
                first: format!("{prefix}*.{extension}"),
                second: format!("{other_prefix}*.{other_extension}"),
            });
        }

        let padding = padding_of(&numbers).map_err(|example| IngestError::MixedNumberWidths {
            dir: dir.to_path_buf(),
            pattern: format!("{prefix}<number>.{extension}"),
            example: format!("{prefix}{example}.{extension}"),
        })?;
        let (Some(&first_number), Some(&last_number)) =
            (numbers.keys().next(), numbers.keys().last())
        else {
            return Err(IngestError::NoSequence {
                dir: dir.to_path_buf(),
            });
        };
        let sequence = Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_owned(),
            padding,
            extension: extension.to_owned(),
            format,
            first_number,
            file_count: last_number - first_number + 1,
        };
        if let Some(missing) = (first_number..=last_number).find(|n| !numbers.contains_key(n)) {
            return Err(IngestError::SequenceGap {
                dir: dir.to_path_buf(),
                missing: sequence.file_name(missing),
                first_file: sequence.file_name(first_number),
                last_file: sequence.file_name(last_number),
            });
        }
        Ok(sequence)
    }

    pub(crate) fn last_number(&self) -> u64 {
        self.first_number + self.file_count - 1
    }

    /// The file name of frame `number`, e.g. `in000007.jpg`.
    pub(crate) fn file_name(&self, number: u64) -> String {
        match self.padding {
            Padding::Zeros { digits } => {
                format!("{}{number:0digits$}.{}", self.prefix, self.extension)
            }
            Padding::None => format!("{}{number}.{}", self.prefix, self.extension),
        }
    }

    pub(crate) fn file_path(&self, number: u64) -> PathBuf {
        self.dir.join(self.file_name(number))
    }

    /// The format of every file in the sequence.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// Every file of the sequence, in frame order.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        (self.first_number..=self.last_number()).map(|number| self.file_path(number))
    }

    /// The printf-style pattern multifilesrc expands, with any `%` in the folder or prefix
    /// escaped.
    pub(crate) fn multifilesrc_location(&self) -> Result<String, IngestError> {
        let dir = self.dir.to_str().ok_or_else(|| IngestError::NonUtf8Path {
            path: self.dir.clone(),
        })?;
        let prefix = format!("{dir}/{}", self.prefix).replace('%', "%%");
        let number = match self.padding {
            Padding::Zeros { digits } => format!("%0{digits}d"),
            Padding::None => "%d".to_owned(),
        };
        Ok(format!(
            "{prefix}{number}.{}",
            self.extension.replace('%', "%%")
        ))
    }
}

/// The padding every name in a group agrees on, or an offending name's digits.
fn padding_of(numbers: &BTreeMap<u64, &str>) -> Result<Padding, String> {
    let mut widths = numbers.values().map(|digits| digits.len());
    let first_width = widths.next().unwrap_or(1);
    if widths.all(|width| width == first_width) {
        return Ok(Padding::Zeros {
            digits: first_width,
        });
    }
    match numbers
        .iter()
        .find(|(number, digits)| number.to_string() != **digits)
    {
        Some((_, digits)) => Err((*digits).to_owned()),
        None => Ok(Padding::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(names: &[&str]) -> Result<ImageSequence, IngestError> {
        ImageSequence::from_names(Path::new("/footage"), names.iter().copied())
    }

    #[test]
    fn finds_pattern_start_and_count() {
        /// first file, last file, first number, file count
        type Expected<'a> = (&'a str, &'a str, u64, u64);
        let cases: &[(&[&str], Expected)] = &[
            (
                &["in000001.jpg", "in000002.jpg", "in000003.jpg"],
                ("in000001.jpg", "in000003.jpg", 1, 3),
            ),
            (
                &[
                    "b00000.bmp",
                    "b00001.bmp",
                    "hand_segmented_00247.BMP",
                    "script.txt",
                ],
                ("b00000.bmp", "b00001.bmp", 0, 2),
            ),
            (
                &["frame9.png", "frame10.png", "frame11.png", "notes.md"],
                ("frame9.png", "frame11.png", 9, 3),
            ),
            (&["7.JPEG"], ("7.JPEG", "7.JPEG", 7, 1)),
        ];
        for (names, (first_file, last_file, first_number, count)) in cases {
            let sequence = detect(names).unwrap();
            assert_eq!(sequence.file_name(sequence.first_number), *first_file);
            assert_eq!(sequence.file_name(sequence.last_number()), *last_file);
            assert_eq!(sequence.first_number, *first_number, "{names:?}");
            assert_eq!(sequence.file_count, *count, "{names:?}");
        }
    }

    #[test]
    fn rejects_folders_without_one_clean_sequence() {
        assert!(matches!(
            detect(&["readme.txt", "ROI.bmp", "x.png"]),
            Err(IngestError::NoSequence { .. })
        ));
        match detect(&["in000001.jpg", "in000002.jpg", "in000004.jpg"]) {
            Err(IngestError::SequenceGap { missing, .. }) => assert_eq!(missing, "in000003.jpg"),
            other => panic!("expected a gap, got {other:?}"),
        }
        assert!(matches!(
            detect(&["a1.png", "a2.png", "b1.png", "b2.png"]),
            Err(IngestError::AmbiguousSequence { .. })
        ));
        assert!(matches!(
            detect(&["f01.png", "f2.png", "f03.png"]),
            Err(IngestError::MixedNumberWidths { .. })
        ));
        assert!(matches!(
            detect(&["f1.png", "f01.png"]),
            Err(IngestError::MixedNumberWidths { .. })
        ));
    }

    #[test]
    fn multifilesrc_location_escapes_percent() {
        let sequence =
            ImageSequence::from_names(Path::new("/data/100%"), ["in000001.jpg"]).unwrap();
        assert_eq!(
            sequence.multifilesrc_location().unwrap(),
            "/data/100%%/in%06d.jpg"
        );
    }

    #[test]
    fn framing_checks_catch_truncation() {
        let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xDA, 0x12, 0xFF, 0x00, 0xFF, 0xD9];
        let png = [
            &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..],
            &[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82],
        ]
        .concat();
        let mut bmp = vec![0u8; 60];
        bmp[..2].copy_from_slice(b"BM");
        bmp[2..6].copy_from_slice(&60u32.to_le_bytes());
        bmp[10..14].copy_from_slice(&54u32.to_le_bytes());

        // format, bytes, whole?
        let cases: &[(ImageFormat, &[u8], bool)] = &[
            (ImageFormat::Jpeg, jpeg, true),
            (ImageFormat::Jpeg, &[jpeg, &[0, 0, 0]].concat(), true),
            (ImageFormat::Jpeg, &jpeg[..7], false),
            (ImageFormat::Jpeg, &[jpeg, &[0x12]].concat(), false),
            (ImageFormat::Jpeg, b"garbage", false),
            (ImageFormat::Jpeg, &[], false),
            (ImageFormat::Png, &png, true),
            (ImageFormat::Png, &png[..png.len() - 1], false),
            (ImageFormat::Bmp, &bmp, true),
            (ImageFormat::Bmp, &bmp[..59], false),
            (ImageFormat::Bmp, &png, false),
        ];
        for (index, (format, bytes, whole)) in cases.iter().enumerate() {
            assert_eq!(format.check_framing(bytes).is_ok(), *whole, "case {index}");
        }
    }
}
