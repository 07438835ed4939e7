//! Zones: named polygons an event reports when its motion touches them.
//!
//! Owns: [`ZoneSpec`] (a validated zone: name, polygon, sensitivity, minimum area), [`Zones`]
//! (a camera's zones at one analysis size, with masked pixels left out of every zone), the
//! per-frame test of which zones the foreground touches ([`ZoneHit`]), and
//! [`ZoneAccumulator`], which turns per-frame hits into the sorted zone names of an event.
//! Does not own: the foreground (the detector), events (sw_motion's tracker) or config keys.
//!
//! A zone is touched on a frame when its foreground pixels reach both
//! `sensitivity × (the zone's pixels)` and `min_area_fraction × (the frame's pixels)`, and at
//! least one pixel. Both are fractions, so a zone means the same at any analysis size.

use ndarray::{Array2, ArrayView2, Zip};
use serde::Serialize;

use crate::PrivacyError;
use crate::mask::PrivacyMask;
use crate::polygon::{PixelRuns, Polygon};

/// Default fraction of a zone's pixels that must be foreground for it to count as touched.
pub const DEFAULT_SENSITIVITY: f64 = 0.01;

/// Default least foreground in a zone, as a fraction of the frame: none beyond one pixel (the
/// detector already drops blobs under `min_blob_area_pixels`).
pub const DEFAULT_MIN_AREA_FRACTION: f64 = 0.0;

/// Longest zone name, in characters.
pub const MAX_ZONE_NAME_CHARS: usize = 64;

/// One zone, validated. Its name goes into every event that touches it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSpec {
    name: String,
    polygon: Polygon,
    sensitivity: f64,
    min_area_fraction: f64,
}

impl ZoneSpec {
    /// `name`: 1 to 64 characters, no control characters, no space at either end.
    /// `sensitivity`: fraction of the zone's pixels, in (0, 1].
    /// `min_area_fraction`: fraction of the frame's pixels, in [0, 1].
    pub fn new(
        name: impl Into<String>,
        polygon: Polygon,
        sensitivity: f64,
        min_area_fraction: f64,
    ) -> Result<Self, PrivacyError> {
        let name = name.into();
        let bad_name = |reason: &'static str| PrivacyError::ZoneName {
            name: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(bad_name("is empty"));
        }
        if name.chars().count() > MAX_ZONE_NAME_CHARS {
            return Err(bad_name("is longer than 64 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(bad_name("contains a control character"));
        }
        if name.trim() != name {
            return Err(bad_name("starts or ends with a space"));
        }
        if !(sensitivity > 0.0 && sensitivity <= 1.0) {
            return Err(PrivacyError::ZoneSensitivity {
                zone: name,
                value: sensitivity,
            });
        }
        if !(0.0..=1.0).contains(&min_area_fraction) {
            return Err(PrivacyError::ZoneMinArea {
                zone: name,
                value: min_area_fraction,
            });
        }
        Ok(Self {
            name,
            polygon,
            sensitivity,
            min_area_fraction,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn polygon(&self) -> &Polygon {
        &self.polygon
    }

    pub fn sensitivity(&self) -> f64 {
        self.sensitivity
    }

    pub fn min_area_fraction(&self) -> f64 {
        self.min_area_fraction
    }
}

/// Refuses a camera's zone list when two zones share a name (events could not tell them apart).
pub fn check_unique_names(zones: &[ZoneSpec]) -> Result<(), PrivacyError> {
    for (index, zone) in zones.iter().enumerate() {
        if let Some(first) = zones[..index]
            .iter()
            .position(|other| other.name == zone.name)
        {
            return Err(PrivacyError::DuplicateZone {
                name: zone.name.clone(),
                first: first + 1,
                second: index + 1,
            });
        }
    }
    Ok(())
}

/// A zone touched on one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneHit {
    /// Index of the zone in the list [`Zones`] was built from.
    pub zone: usize,
    /// Foreground pixels inside the zone.
    pub foreground_pixels: usize,
    /// `foreground_pixels` over the zone's pixels, 0..=1.
    pub foreground_fraction: f64,
}

#[derive(Debug, Clone)]
struct ZonePixels {
    name: String,
    pixels: PixelRuns,
    /// Foreground pixels needed to touch the zone (at least 1).
    min_foreground_pixels: usize,
}

/// A camera's zones at one analysis size. Built once per size; [`Zones::touched`] allocates
/// nothing once its output vector has grown to the number of zones.
#[derive(Debug, Clone)]
pub struct Zones {
    dim: (usize, usize),
    zones: Vec<ZonePixels>,
}

impl Zones {
    /// `specs` rasterised at the size of `mask` (see `polygon` for the pixel rule), each
    /// without the masked pixels: masked motion never touches a zone. A zone left with no
    /// pixels (entirely masked, or thinner than a pixel) is never touched; see
    /// [`Zones::pixel_count`].
    pub fn new(specs: &[ZoneSpec], mask: &PrivacyMask) -> Self {
        let dim = (mask.height(), mask.width());
        let frame_pixels = (dim.0 * dim.1) as f64;
        let zones = specs
            .iter()
            .map(|spec| {
                let mut inside = Array2::from_elem(dim, false);
                spec.polygon.fill(&mut inside);
                Zip::from(&mut inside)
                    .and(mask.covered())
                    .for_each(|inside, &masked| *inside &= !masked);
                let pixels = PixelRuns::from_bitmap(inside.view());
                let min_foreground_pixels =
                    pixels_for(spec.sensitivity, pixels.pixel_count() as f64)
                        .max(pixels_for(spec.min_area_fraction, frame_pixels))
                        .max(1);
                ZonePixels {
                    name: spec.name.clone(),
                    pixels,
                    min_foreground_pixels,
                }
            })
            .collect();
        Self { dim, zones }
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// Name of zone `zone` (an index into the list the zones were built from).
    pub fn name(&self, zone: usize) -> Option<&str> {
        self.zones.get(zone).map(|z| z.name.as_str())
    }

    /// Pixels of zone `zone` at this size, masked pixels excluded; 0 means it can never be
    /// touched (worth a warning).
    pub fn pixel_count(&self, zone: usize) -> Option<usize> {
        self.zones.get(zone).map(|z| z.pixels.pixel_count())
    }

    /// Replaces `out` with the zones `foreground` (non-zero = foreground, shape
    /// `(height, width)`) touches on this frame, in zone order.
    pub fn touched(
        &self,
        foreground: ArrayView2<u8>,
        out: &mut Vec<ZoneHit>,
    ) -> Result<(), PrivacyError> {
        out.clear();
        if foreground.dim() != self.dim {
            return Err(PrivacyError::FrameSize {
                what: "foreground mask",
                width: foreground.ncols(),
                height: foreground.nrows(),
                expected_width: self.dim.1,
                expected_height: self.dim.0,
            });
        }
        for (index, zone) in self.zones.iter().enumerate() {
            let foreground_pixels = zone.pixels.count_nonzero(foreground);
            if foreground_pixels >= zone.min_foreground_pixels {
                out.push(ZoneHit {
                    zone: index,
                    foreground_pixels,
                    foreground_fraction: foreground_pixels as f64
                        / zone.pixels.pixel_count() as f64,
                });
            }
        }
        Ok(())
    }
}

/// Pixels needed for `fraction` of `total`, rounded up (a hair of slack keeps 0.01 × 100 at 1).
fn pixels_for(fraction: f64, total: f64) -> usize {
    (fraction * total - 1e-9).ceil().max(0.0) as usize
}

/// Collects the zones touched during each event, for `MotionEvent::zones`.
///
/// Feed it every analysed frame's hits with the frame's time ([`ZoneAccumulator::observe`]);
/// for each event record, [`ZoneAccumulator::names_since`] the event's `start_millis` gives the
/// sorted, unique names touched from the event's first frame up to now. It keeps one time per
/// zone, so it needs no reset between events; time going backwards (a restarted stream) clears
/// it, and so does [`ZoneAccumulator::reset`].
#[derive(Debug, Clone)]
pub struct ZoneAccumulator {
    /// Zone indexes in name order.
    by_name: Vec<usize>,
    names: Vec<String>,
    last_touched_millis: Vec<Option<u64>>,
    latest_millis: Option<u64>,
}

impl ZoneAccumulator {
    /// For the zones of `specs` (hits refer to them by index, at any analysis size).
    pub fn new(specs: &[ZoneSpec]) -> Self {
        let names: Vec<String> = specs.iter().map(|spec| spec.name.clone()).collect();
        let mut by_name: Vec<usize> = (0..names.len()).collect();
        by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
        Self {
            by_name,
            last_touched_millis: vec![None; names.len()],
            names,
            latest_millis: None,
        }
    }

    /// Records `hits` from the frame at `pts_nanos` (stream time, as given to the event
    /// tracker). Hits naming no zone of this accumulator are ignored.
    pub fn observe(&mut self, pts_nanos: u64, hits: &[ZoneHit]) {
        let millis = pts_nanos / 1_000_000;
        if self.latest_millis.is_some_and(|latest| millis < latest) {
            self.reset();
        }
        self.latest_millis = Some(millis);
        for hit in hits {
            if let Some(last) = self.last_touched_millis.get_mut(hit.zone) {
                *last = Some(millis);
            }
        }
    }

    /// Names of the zones touched at or after `start_millis`, sorted and unique.
    pub fn names_since(&self, start_millis: u64) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_name
            .iter()
            .filter(|&&zone| self.last_touched_millis[zone].is_some_and(|t| t >= start_millis))
            .map(|&zone| self.names[zone].clone())
            .collect();
        names.dedup();
        names
    }

    /// Forgets every touch (call it when the detector starts afresh).
    pub fn reset(&mut self) {
        self.last_touched_millis.fill(None);
        self.latest_millis = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::polygon::tests::picture;

    fn polygon(points: &[[f64; 2]]) -> Polygon {
        Polygon::new(points.to_vec()).unwrap()
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon {
        polygon(&[[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    }

    fn zone(name: &str, polygon: Polygon, sensitivity: f64, min_area_fraction: f64) -> ZoneSpec {
        ZoneSpec::new(name, polygon, sensitivity, min_area_fraction).unwrap()
    }

    /// Foreground from a picture: `#` is 255.
    fn foreground(rows: &[&str]) -> Array2<u8> {
        picture(rows).mapv(|inside| if inside { 255 } else { 0 })
    }

    /// An 8x4 frame: "door" the left half (its top-left quarter masked), "road" the right
    /// half needing a quarter of its pixels, "kerb" the bottom row needing 3 pixels (3/32 of
    /// the frame).
    fn zones() -> (Vec<ZoneSpec>, Zones) {
        let specs = vec![
            zone("door", rect(0.0, 0.0, 0.5, 1.0), 0.01, 0.0),
            zone("road", rect(0.5, 0.0, 1.0, 1.0), 0.25, 0.0),
            zone("kerb", rect(0.0, 0.75, 1.0, 1.0), 0.01, 3.0 / 32.0),
        ];
        let mask = PrivacyMask::new(&[rect(0.0, 0.0, 0.25, 0.5)], 8, 4);
        let built = Zones::new(&specs, &mask);
        (specs, built)
    }

    #[test]
    fn zones_touched_by_a_foreground() {
        let (_, zones) = zones();
        assert_eq!(
            (0..3)
                .map(|z| zones.pixel_count(z).unwrap())
                .collect::<Vec<_>>(),
            [12, 16, 8],
            "door loses its 4 masked pixels"
        );
        /// foreground picture, expected (zone, foreground pixels)
        type Row<'a> = (&'a [&'a str], &'a [(usize, usize)]);
        #[rustfmt::skip]
        let table: [Row; 7] = [
            (&["........", "........", "........", "........"], &[]),
            // Only inside the mask: nothing.
            (&["##......", "##......", "........", "........"], &[]),
            // One unmasked door pixel is enough at 1 %.
            (&["###.....", "........", "........", "........"], &[(0, 1)]),
            // Road needs 4 of its 16 pixels.
            (&[".....###", "........", "........", "........"], &[]),
            (&[".....###", ".......#", "........", "........"], &[(1, 4)]),
            // Kerb needs 3 pixels; road needs more than its one.
            (&["........", "........", "........", "...##..."], &[(0, 1)]),
            (&["........", "........", "........", "..###..."], &[(0, 2), (2, 3)]),
        ];
        let mut hits = Vec::new();
        for (rows, expected) in table {
            zones.touched(foreground(rows).view(), &mut hits).unwrap();
            let got: Vec<(usize, usize)> = hits
                .iter()
                .map(|hit| (hit.zone, hit.foreground_pixels))
                .collect();
            assert_eq!(got, expected, "{rows:?}");
        }
        zones
            .touched(
                foreground(&["........", "........", "........", ".....###"]).view(),
                &mut hits,
            )
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].zone, hits[0].foreground_fraction), (2, 3.0 / 8.0));
    }

    #[test]
    fn a_foreground_of_another_size_is_refused() {
        let (_, zones) = zones();
        let mut hits = vec![ZoneHit {
            zone: 0,
            foreground_pixels: 1,
            foreground_fraction: 1.0,
        }];
        let error = zones
            .touched(Array2::zeros((4, 9)).view(), &mut hits)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "foreground mask is 9x4 pixels but the privacy settings were built for 8x4"
        );
        assert!(hits.is_empty());
    }

    #[test]
    fn the_accumulator_names_zones_touched_since_an_events_start() {
        let (specs, _) = zones();
        let hit = |zone| ZoneHit {
            zone,
            foreground_pixels: 1,
            foreground_fraction: 0.1,
        };
        let mut accumulator = ZoneAccumulator::new(&specs);
        // A blip in "road" at 100 ms that never became an event.
        accumulator.observe(100_000_000, &[hit(1)]);
        // An event from 1000 ms: "kerb", then "door" and "kerb".
        accumulator.observe(1_000_000_000, &[hit(2)]);
        assert_eq!(accumulator.names_since(1000), ["kerb"]);
        accumulator.observe(1_200_000_000, &[hit(0), hit(2), hit(7)]);
        assert_eq!(accumulator.names_since(1000), ["door", "kerb"]);
        assert_eq!(accumulator.names_since(0), ["door", "kerb", "road"]);
        // The stream restarts (time goes back): earlier touches are forgotten.
        accumulator.observe(40_000_000, &[]);
        assert_eq!(accumulator.names_since(0), Vec::<String>::new());
        accumulator.observe(80_000_000, &[hit(1)]);
        accumulator.reset();
        assert_eq!(accumulator.names_since(0), Vec::<String>::new());
    }

    #[test]
    fn zone_settings_are_checked() {
        let square = || rect(0.1, 0.1, 0.2, 0.2);
        #[rustfmt::skip]
        let table = [
            ("", 0.01, 0.0, "zone name \"\" is empty"),
            (" door", 0.01, 0.0, "zone name \" door\" starts or ends with a space"),
            ("do\nor", 0.01, 0.0, "zone name \"do\\nor\" contains a control character"),
            ("door", 0.0, 0.0, "zone \"door\": sensitivity 0 is not in (0, 1]; it is the fraction of the zone's pixels that must move"),
            ("door", 1.5, 0.0, "zone \"door\": sensitivity 1.5 is not in (0, 1]; it is the fraction of the zone's pixels that must move"),
            ("door", 0.5, -0.1, "zone \"door\": min_area_fraction -0.1 is not in [0, 1]; it is the fraction of the frame that must move inside the zone"),
        ];
        for (name, sensitivity, min_area, expected) in table {
            let error = ZoneSpec::new(name, square(), sensitivity, min_area).unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
        assert!(ZoneSpec::new("x".repeat(65), square(), 0.1, 0.0).is_err());
        let specs = [
            zone("door", square(), 0.1, 0.0),
            zone("road", square(), 0.1, 0.0),
            zone("door", square(), 0.1, 0.0),
        ];
        assert_eq!(
            check_unique_names(&specs).unwrap_err().to_string(),
            "zones 1 and 3 are both named \"door\"; zone names must differ"
        );
        assert!(check_unique_names(&specs[..2]).is_ok());
    }
}
