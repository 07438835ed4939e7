//! Polygons in normalised frame coordinates and their pixels at a given analysis size.
//!
//! Owns: [`Polygon`] (validated: 3 to [`MAX_POLYGON_POINTS`] points, finite, inside the frame,
//! simple, enclosing an area), rasterising one onto a pixel grid, and [`PixelRuns`], the
//! row-runs form that masks and zones use per frame.
//! Does not own: what a polygon means (masks in `mask`, zones in `zones`) or config keys and
//! their file/line context (the config crate prefixes these errors with them).
//!
//! Coordinates are fractions of the frame: `[0, 0]` is the top-left corner, `[1, 1]` the
//! bottom-right one, so a polygon keeps its place when the analysis size changes.
//!
//! Pixel rule: pixel `(col, row)` belongs to a polygon when its centre
//! `((col + 0.5) / width, (row + 0.5) / height)` lies inside it, with left and top edges
//! inclusive and right and bottom edges exclusive. Two polygons sharing an edge therefore split
//! the pixels along it without overlap or gap. Fill rule: even–odd; validated polygons never
//! cross themselves, so the non-zero rule would give the same pixels.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::Serialize;

use crate::PrivacyError;

/// Most points a polygon may have: plenty for any mask drawn by hand, and a bound on the
/// quadratic self-crossing check.
pub const MAX_POLYGON_POINTS: usize = 256;

/// Smallest area a polygon may enclose, as a fraction of the frame (a millionth: a tenth of a
/// pixel at 320x180). Rejects collinear points and slivers typed by mistake.
pub const MIN_AREA_FRACTION: f64 = 1e-6;

/// A simple polygon in normalised frame coordinates (see the module notes). Implicitly closed:
/// the last point connects to the first; a ring written closed (last point = first) is accepted
/// and stored without the repeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Polygon {
    points: Vec<[f64; 2]>,
}

impl Polygon {
    /// Validates `points` (`[x, y]` pairs). Errors say which point or edges are wrong (1-based,
    /// as a person counts them in the config); the caller adds the key and camera.
    pub fn new(mut points: Vec<[f64; 2]>) -> Result<Self, PrivacyError> {
        if points.len() > 1 && points.first() == points.last() {
            points.pop();
        }
        if points.len() < 3 {
            return Err(PrivacyError::PolygonTooFewPoints {
                count: points.len(),
            });
        }
        if points.len() > MAX_POLYGON_POINTS {
            return Err(PrivacyError::PolygonTooManyPoints {
                count: points.len(),
                max: MAX_POLYGON_POINTS,
            });
        }
        for (index, &[x, y]) in points.iter().enumerate() {
            // NaN and infinities are outside the range too.
            let inside = |v: f64| (0.0..=1.0).contains(&v);
            if !(inside(x) && inside(y)) {
                return Err(PrivacyError::PolygonPointOutside {
                    point: index + 1,
                    x,
                    y,
                });
            }
        }
        let count = points.len();
        for index in 0..count {
            if points[index] == points[(index + 1) % count] {
                return Err(PrivacyError::PolygonRepeatedPoint {
                    point: index + 1,
                    next: (index + 1) % count + 1,
                });
            }
        }
        if let Some((first, second)) = crossing_edges(&points) {
            return Err(PrivacyError::PolygonCrossesItself { first, second });
        }
        let polygon = Self { points };
        let area_fraction = polygon.area_fraction();
        if area_fraction < MIN_AREA_FRACTION {
            return Err(PrivacyError::PolygonNoArea { area_fraction });
        }
        Ok(polygon)
    }

    /// The points, `[x, y]` fractions of the frame, without a closing repeat.
    pub fn points(&self) -> &[[f64; 2]] {
        &self.points
    }

    /// Enclosed area as a fraction of the frame (shoelace formula; exact for simple polygons).
    pub fn area_fraction(&self) -> f64 {
        let count = self.points.len();
        let twice: f64 = (0..count)
            .map(|index| {
                let [x0, y0] = self.points[index];
                let [x1, y1] = self.points[(index + 1) % count];
                x0 * y1 - x1 * y0
            })
            .sum();
        twice.abs() / 2.0
    }

    /// Sets to `true` every pixel of `bitmap` (shape `(height, width)`) whose centre is inside
    /// the polygon; other pixels keep their value, so several polygons fill a union.
    pub fn fill(&self, bitmap: &mut Array2<bool>) {
        let (height, width) = bitmap.dim();
        let points: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|&[x, y]| (x * width as f64, y * height as f64))
            .collect();
        let mut crossings: Vec<f64> = Vec::with_capacity(points.len());
        for row in 0..height {
            let centre_y = row as f64 + 0.5;
            crossings.clear();
            for (index, &(x0, y0)) in points.iter().enumerate() {
                let (x1, y1) = points[(index + 1) % points.len()];
                // Half-open in y, so a vertex exactly on the scanline is counted once.
                if (y0 <= centre_y) != (y1 <= centre_y) {
                    crossings.push(x0 + (centre_y - y0) * (x1 - x0) / (y1 - y0));
                }
            }
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                // Centres `col + 0.5` in `[left, right)`.
                let first = (pair[0] - 0.5).ceil().clamp(0.0, width as f64) as usize;
                let end = (pair[1] - 0.5).ceil().clamp(0.0, width as f64) as usize;
                for col in first..end {
                    bitmap[[row, col]] = true;
                }
            }
        }
    }
}

/// The first pair of edges (1-based; edge `i` runs from point `i` to the next) that cross or
/// touch although they are not neighbours, or neighbours that double back over each other.
fn crossing_edges(points: &[[f64; 2]]) -> Option<(usize, usize)> {
    let count = points.len();
    let edge = |index: usize| (points[index], points[(index + 1) % count]);
    for first in 0..count {
        for second in first + 1..count {
            let (a, b) = edge(first);
            let (c, d) = edge(second);
            let neighbours = second == first + 1 || (first == 0 && second == count - 1);
            let bad = if neighbours {
                // They share one point; they overlap only if collinear and pointing back.
                let (shared, a_far, c_far) = if second == first + 1 {
                    (b, a, d)
                } else {
                    (a, b, c)
                };
                orientation(shared, a_far, c_far) == 0.0
                    && (a_far[0] - shared[0]) * (c_far[0] - shared[0])
                        + (a_far[1] - shared[1]) * (c_far[1] - shared[1])
                        > 0.0
            } else {
                segments_meet(a, b, c, d)
            };
            if bad {
                return Some((first + 1, second + 1));
            }
        }
    }
    None
}

/// Twice the signed area of triangle `a b c`: positive when counter-clockwise, 0 when
/// collinear.
fn orientation(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// True when closed segments `ab` and `cd` share at least one point.
fn segments_meet(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let (o1, o2) = (orientation(a, b, c), orientation(a, b, d));
    let (o3, o4) = (orientation(c, d, a), orientation(c, d, b));
    let on = |p: [f64; 2], q: [f64; 2], r: [f64; 2]| {
        // r on segment pq, given that the three are collinear.
        r[0] >= p[0].min(q[0])
            && r[0] <= p[0].max(q[0])
            && r[1] >= p[1].min(q[1])
            && r[1] <= p[1].max(q[1])
    };
    if o1 * o2 < 0.0 && o3 * o4 < 0.0 {
        return true;
    }
    (o1 == 0.0 && on(a, b, c))
        || (o2 == 0.0 && on(a, b, d))
        || (o3 == 0.0 && on(c, d, a))
        || (o4 == 0.0 && on(c, d, b))
}

/// One run of consecutive pixels on a row: columns `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    row: usize,
    start: usize,
    end: usize,
}

/// A set of pixels of a `width x height` frame, stored as horizontal runs (row-major order), so
/// that per-frame work is proportional to the area covered and allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PixelRuns {
    runs: Vec<Run>,
    pixels: usize,
}

impl PixelRuns {
    /// The `true` pixels of `bitmap`, shape `(height, width)`.
    pub(crate) fn from_bitmap(bitmap: ArrayView2<bool>) -> Self {
        let mut runs = Vec::new();
        for (row, line) in bitmap.outer_iter().enumerate() {
            let mut start = None;
            for (col, &inside) in line.iter().chain(std::iter::once(&false)).enumerate() {
                match (inside, start) {
                    (true, None) => start = Some(col),
                    (false, Some(first)) => {
                        runs.push(Run {
                            row,
                            start: first,
                            end: col,
                        });
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        let pixels = runs.iter().map(|run| run.end - run.start).sum();
        Self { runs, pixels }
    }

    /// How many pixels the set holds.
    pub(crate) fn pixel_count(&self) -> usize {
        self.pixels
    }

    /// Sets every pixel of the set in `image` to `value`. `image` must have this set's shape.
    pub(crate) fn fill(&self, image: &mut ArrayViewMut2<u8>, value: u8) {
        for run in &self.runs {
            image
                .row_mut(run.row)
                .slice_mut(ndarray::s![run.start..run.end])
                .fill(value);
        }
    }

    /// Counts the pixels of the set that are non-zero in `image`. `image` must have this set's
    /// shape.
    pub(crate) fn count_nonzero(&self, image: ArrayView2<u8>) -> usize {
        self.runs
            .iter()
            .map(|run| {
                let line = image.row(run.row);
                let span = line.slice(ndarray::s![run.start..run.end]);
                match span.as_slice() {
                    Some(pixels) => pixels.iter().filter(|&&value| value != 0).count(),
                    None => span.iter().filter(|&&value| value != 0).count(),
                }
            })
            .sum()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parses a picture, row-major: `#` is inside, `.` outside.
    pub(crate) fn picture(rows: &[&str]) -> Array2<bool> {
        let width = rows.first().map_or(0, |row| row.len());
        Array2::from_shape_fn((rows.len(), width), |(row, col)| {
            rows[row].as_bytes()[col] == b'#'
        })
    }

    fn raster(points: &[[f64; 2]], width: usize, height: usize) -> Array2<bool> {
        let mut bitmap = Array2::from_elem((height, width), false);
        Polygon::new(points.to_vec()).unwrap().fill(&mut bitmap);
        bitmap
    }

    #[test]
    fn rasterises_pixel_centres_inside() {
        let full = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let left_half = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]];
        let right_half = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]];
        // Lower-left triangle: centre (c + .5, r + .5) inside when x < y (8x8 pixels).
        let triangle = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        // A centred square covering centres 2.5..5.5 only partly: edges at 2.4 and 5.6 px.
        let small = [[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7]];
        // An L (concave): the top-right quarter is missing.
        let ell = [
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.5],
            [1.0, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        /// name, polygon, width, height, expected pixels
        type Row<'a> = (&'a str, &'a [[f64; 2]], usize, usize, &'a [&'a str]);
        #[rustfmt::skip]
        let table: [Row; 7] = [
            ("full frame", &full, 4, 3, &["####", "####", "####"]),
            ("left half", &left_half, 4, 2, &["##..", "##.."]),
            ("right half", &right_half, 4, 2, &["..##", "..##"]),
            ("left half, odd width", &left_half, 5, 1, &["##..."]),
            // Centres on the diagonal are on its right edge: outside.
            ("triangle", &triangle, 4, 4, &["....", "#...", "##..", "###."]),
            ("small square", &small, 8, 8, &[
                "........", "........", "..####..", "..####..",
                "..####..", "..####..", "........", "........",
            ]),
            ("L shape", &ell, 4, 4, &["##..", "##..", "####", "####"]),
        ];
        for (name, points, width, height, expected) in table {
            assert_eq!(raster(points, width, height), picture(expected), "{name}");
        }
    }

    #[test]
    fn the_same_polygon_scales_with_the_frame() {
        let band = [[0.25, 0.0], [0.75, 0.0], [0.75, 1.0], [0.25, 1.0]];
        for (width, expected) in [(4, 2), (8, 4), (320, 160), (321, 161)] {
            let bitmap = raster(&band, width, 1);
            assert_eq!(
                bitmap.iter().filter(|&&inside| inside).count(),
                expected,
                "width {width}"
            );
        }
    }

    #[test]
    fn polygons_sharing_an_edge_split_its_pixels() {
        let left = [[0.0, 0.0], [0.37, 0.0], [0.61, 1.0], [0.0, 1.0]];
        let right = [[0.37, 0.0], [1.0, 0.0], [1.0, 1.0], [0.61, 1.0]];
        let (a, b) = (raster(&left, 37, 23), raster(&right, 37, 23));
        for (inside_a, inside_b) in a.iter().zip(b.iter()) {
            assert!(inside_a ^ inside_b, "every pixel in exactly one");
        }
    }

    #[test]
    fn invalid_polygons_are_refused_with_what_is_wrong() {
        let square = vec![[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]];
        let mut closed = square.clone();
        closed.push([0.1, 0.1]);
        assert_eq!(Polygon::new(closed).unwrap().points(), &square[..]);
        #[rustfmt::skip]
        let table: Vec<(Vec<[f64; 2]>, &str)> = vec![
            (vec![[0.1, 0.1], [0.5, 0.5]], "has 2 points; a polygon needs at least 3"),
            (vec![[0.1, 0.1], [0.5, 0.5], [0.1, 0.1]], "has 2 points; a polygon needs at least 3"),
            ((0..300).map(|i| [f64::from(i) / 300.0, 0.0]).collect(), "has 300 points; at most 256 are allowed"),
            (vec![[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]],
                "point 2 [1.2, 0.1] is outside the frame; coordinates are fractions of the frame, 0 to 1"),
            (vec![[0.1, 0.1], [f64::NAN, 0.1], [0.5, 0.5]],
                "point 2 [NaN, 0.1] is outside the frame; coordinates are fractions of the frame, 0 to 1"),
            (vec![[0.1, 0.1], [0.5, 0.1], [0.5, 0.1], [0.5, 0.5]], "points 2 and 3 are the same"),
            (vec![[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "edges 1 and 3 overlap or cross"),
            // A bow tie: edges 1 and 3 cross.
            (vec![[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]], "edges 1 and 3 overlap or cross"),
            // A spike back along the previous edge.
            (vec![[0.1, 0.1], [0.9, 0.1], [0.5, 0.1], [0.5, 0.5]], "edges 1 and 2 overlap or cross"),
            (vec![[0.5, 0.5], [0.5 + 1.0 / 1024.0, 0.5], [0.5, 0.5 + 1.0 / 1024.0]],
                "encloses 4.8e-7 of the frame, less than the minimum of 1e-6; are its points in a line?"),
        ];
        for (points, expected) in table {
            let error = Polygon::new(points.clone()).unwrap_err();
            assert_eq!(error.to_string(), expected, "{points:?}");
        }
    }

    #[test]
    fn pixel_runs_count_and_fill() {
        let bitmap = picture(&[".##.#", "#####", "....."]);
        let runs = PixelRuns::from_bitmap(bitmap.view());
        assert_eq!(runs.pixel_count(), 8);
        let mut image = Array2::from_shape_vec((3, 5), (1..=15).collect::<Vec<u8>>()).unwrap();
        image[[1, 2]] = 0;
        assert_eq!(runs.count_nonzero(image.view()), 7);
        // The same pixels in a column-major array: rows are not contiguous there.
        let column_major = image.t().to_owned();
        assert_eq!(runs.count_nonzero(column_major.t()), 7);
        runs.fill(&mut image.view_mut(), 0);
        #[rustfmt::skip]
        let expected = [
            [1, 0, 0, 4, 0],
            [0, 0, 0, 0, 0],
            [11, 12, 13, 14, 15],
        ];
        assert_eq!(image, ndarray::arr2(&expected));
    }
}
