//! The two graphs' tensor contract on the Rust side: one camera's job as an owned request,
//! and a batch of requests packed into the graph's inputs and unpacked from its outputs.
//!
//! Owns: [`ClassifyRequest`] and [`UpdateRequest`] (a job's data, copied out of the
//! detector's buffers so it can cross to a worker thread, and checked on the way), the tables
//! naming every input and output with its layout (`docs/design/onnx.md`), and [`Runner`],
//! which runs one graph's session on a batch.
//! Does not own: batching policy or threads (see `engine`), or the graphs' semantics.

use std::borrow::Cow;
use std::fmt::Debug;
use std::mem;

use ndarray::{ArrayView, IxDyn};
use ort::session::{Session, SessionInputValue, SessionOutputs};
use ort::value::{PrimitiveTensorElementType, TensorElementType, TensorRef};
use sw_motion::{ClassifyJob, PixelState, UpdateDraws, UpdateJob};

use crate::OnnxError;

/// What batches may share: every request in a batch has the same frame size, samples per
/// pixel and (for classification) clean-up radius.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub width: usize,
    pub height: usize,
    pub samples_per_pixel: usize,
    pub cleanup_radius: i64,
}

impl Shape {
    fn area(&self) -> usize {
        self.width * self.height
    }
}

/// How a tensor is laid out for a batch of `B` cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[B, H, W]`.
    Pixels,
    /// `[B, H, N, W]`.
    Samples,
    /// `[B]`: one value per camera.
    Camera,
    /// `[1]`: one value for the batch (taken from its first camera).
    Batch,
}

impl Layout {
    fn dims(self, cameras: usize, shape: &Shape) -> Vec<usize> {
        match self {
            Self::Pixels => vec![cameras, shape.height, shape.width],
            Self::Samples => vec![cameras, shape.height, shape.samples_per_pixel, shape.width],
            Self::Camera => vec![cameras],
            Self::Batch => vec![1],
        }
    }
}

/// A graph input of element type `T`, read from each request of a batch.
struct Input<R, T: 'static> {
    name: &'static str,
    layout: Layout,
    part: for<'a> fn(&'a R) -> &'a [T],
}

/// A graph output, written into a buffer of `T` in each request (converted from the graph's
/// element type where they differ).
struct Output<R, T: 'static> {
    name: &'static str,
    layout: Layout,
    part: for<'a> fn(&'a mut R) -> &'a mut [T],
}

/// Tensor names with their element types.
pub(crate) type Named = Vec<(&'static str, TensorElementType)>;

/// One graph's interface: its file's name in the manifest and every input and output.
pub(crate) struct Graph<R: 'static> {
    pub name: &'static str,
    bytes: &'static [Input<R, u8>],
    ints: &'static [Input<R, i32>],
    longs: &'static [Input<R, i64>],
    byte_outputs: &'static [Output<R, u8>],
    /// `int32` in the graph, `0..=65535` by contract.
    counter_outputs: &'static [Output<R, u16>],
}

impl<R> Debug for Graph<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("name", &self.name).finish()
    }
}

impl<R> Graph<R> {
    /// Every input name with its element type, then every output's.
    pub(crate) fn interface(&self) -> (Named, Named) {
        let inputs = (self
            .bytes
            .iter()
            .map(|i| (i.name, TensorElementType::Uint8)))
        .chain(self.ints.iter().map(|i| (i.name, TensorElementType::Int32)))
        .chain(
            self.longs
                .iter()
                .map(|i| (i.name, TensorElementType::Int64)),
        )
        .collect();
        let outputs = (self
            .byte_outputs
            .iter()
            .map(|o| (o.name, TensorElementType::Uint8)))
        .chain(
            self.counter_outputs
                .iter()
                .map(|o| (o.name, TensorElementType::Int32)),
        )
        .collect();
        (inputs, outputs)
    }
}

/// One camera's classification: its frame, the model's samples and radii under it, and room
/// for the two masks.
#[derive(Debug, Default)]
pub(crate) struct ClassifyRequest {
    shape: Option<Shape>,
    min_radius: u8,
    min_matches: i32,
    cleanup_min_votes: i32,
    cleanup_radius: i64,
    luma: Vec<u8>,
    samples: Vec<u8>,
    radius: Vec<u8>,
    raw_mask: Vec<u8>,
    clean_mask: Vec<u8>,
}

#[rustfmt::skip]
pub(crate) static CLASSIFY: Graph<ClassifyRequest> = Graph {
    name: "classify",
    bytes: &[
        Input { name: "luma", layout: Layout::Pixels, part: |r| &r.luma },
        Input { name: "samples", layout: Layout::Samples, part: |r| &r.samples },
        Input { name: "radius", layout: Layout::Pixels, part: |r| &r.radius },
        Input { name: "min_radius", layout: Layout::Camera, part: |r| std::slice::from_ref(&r.min_radius) },
    ],
    ints: &[
        Input { name: "min_matches", layout: Layout::Camera, part: |r| std::slice::from_ref(&r.min_matches) },
        Input { name: "cleanup_min_votes", layout: Layout::Camera, part: |r| std::slice::from_ref(&r.cleanup_min_votes) },
    ],
    longs: &[Input { name: "cleanup_radius", layout: Layout::Batch, part: |r| std::slice::from_ref(&r.cleanup_radius) }],
    byte_outputs: &[
        Output { name: "raw_mask", layout: Layout::Pixels, part: |r| &mut r.raw_mask },
        Output { name: "clean_mask", layout: Layout::Pixels, part: |r| &mut r.clean_mask },
    ],
    counter_outputs: &[],
};

/// One camera's model update: the frame, its masks, the draws and the model itself (moved in
/// from the detector and back, not copied).
#[derive(Debug, Default)]
pub(crate) struct UpdateRequest {
    shape: Option<Shape>,
    params: [i32; 8],
    luma: Vec<u8>,
    raw_mask: Vec<u8>,
    final_mask: Vec<u8>,
    draws: UpdateDraws,
    state: PixelState,
    /// `state.foreground_frames` widened to the graph's int32.
    foreground_frames: Vec<i32>,
}

/// `UpdateRequest::params` in order.
const UPDATE_PARAMS: [&str; 8] = [
    "match_radius",
    "min_matches",
    "absorb_after",
    "ghost_after",
    "flicker_increment",
    "flicker_decrement",
    "flicker_extra",
    "propagation",
];

#[rustfmt::skip]
pub(crate) static UPDATE: Graph<UpdateRequest> = Graph {
    name: "update",
    bytes: &[
        Input { name: "luma", layout: Layout::Pixels, part: |r| &r.luma },
        Input { name: "raw_mask", layout: Layout::Pixels, part: |r| &r.raw_mask },
        Input { name: "final_mask", layout: Layout::Pixels, part: |r| &r.final_mask },
        Input { name: "samples", layout: Layout::Samples, part: |r| &r.state.samples },
        Input { name: "radius", layout: Layout::Pixels, part: |r| &r.state.radius },
        Input { name: "flicker", layout: Layout::Pixels, part: |r| &r.state.flicker },
        Input { name: "previous_raw", layout: Layout::Pixels, part: |r| &r.state.previous_raw },
        Input { name: "trust", layout: Layout::Pixels, part: |r| &r.state.trust },
        Input { name: "reference", layout: Layout::Pixels, part: |r| &r.state.reference },
    ],
    ints: &[
        Input { name: "foreground_frames", layout: Layout::Pixels, part: |r| &r.foreground_frames },
        Input { name: "own_slot", layout: Layout::Pixels, part: |r| &r.draws.own_slot },
        Input { name: "spread_dir", layout: Layout::Pixels, part: |r| &r.draws.spread_dir },
        Input { name: "spread_slot", layout: Layout::Pixels, part: |r| &r.draws.spread_slot },
        Input { name: "ghost_dir", layout: Layout::Pixels, part: |r| &r.draws.ghost_dir },
        Input { name: "ghost_slot", layout: Layout::Pixels, part: |r| &r.draws.ghost_slot },
        Input { name: UPDATE_PARAMS[0], layout: Layout::Camera, part: |r| &r.params[0..1] },
        Input { name: UPDATE_PARAMS[1], layout: Layout::Camera, part: |r| &r.params[1..2] },
        Input { name: UPDATE_PARAMS[2], layout: Layout::Camera, part: |r| &r.params[2..3] },
        Input { name: UPDATE_PARAMS[3], layout: Layout::Camera, part: |r| &r.params[3..4] },
        Input { name: UPDATE_PARAMS[4], layout: Layout::Camera, part: |r| &r.params[4..5] },
        Input { name: UPDATE_PARAMS[5], layout: Layout::Camera, part: |r| &r.params[5..6] },
        Input { name: UPDATE_PARAMS[6], layout: Layout::Camera, part: |r| &r.params[6..7] },
        Input { name: UPDATE_PARAMS[7], layout: Layout::Camera, part: |r| &r.params[7..8] },
    ],
    longs: &[],
    byte_outputs: &[
        Output { name: "samples_out", layout: Layout::Samples, part: |r| &mut r.state.samples },
        Output { name: "radius_out", layout: Layout::Pixels, part: |r| &mut r.state.radius },
        Output { name: "flicker_out", layout: Layout::Pixels, part: |r| &mut r.state.flicker },
        Output { name: "previous_raw_out", layout: Layout::Pixels, part: |r| &mut r.state.previous_raw },
        Output { name: "trust_out", layout: Layout::Pixels, part: |r| &mut r.state.trust },
        Output { name: "reference_out", layout: Layout::Pixels, part: |r| &mut r.state.reference },
    ],
    counter_outputs: &[Output {
        name: "foreground_frames_out",
        layout: Layout::Pixels,
        part: |r| &mut r.state.foreground_frames,
    }],
};

/// Checks that a buffer has the length its shape says.
fn check_len(
    graph: &'static str,
    what: &str,
    actual: usize,
    expected: usize,
) -> Result<(), OnnxError> {
    if actual == expected {
        Ok(())
    } else {
        Err(OnnxError::Job {
            graph,
            detail: format!("{what} has {actual} values, expected {expected}"),
        })
    }
}

/// The shape of a camera's state, checked: every per-pixel buffer `width * height` long and
/// the samples `N` times that.
fn state_shape(
    graph: &'static str,
    state: &PixelState,
    cleanup_radius: i64,
) -> Result<Shape, OnnxError> {
    let shape = Shape {
        width: state.width,
        height: state.height,
        samples_per_pixel: state.samples_per_pixel,
        cleanup_radius,
    };
    if shape.width == 0 || shape.height == 0 || shape.samples_per_pixel == 0 {
        return Err(OnnxError::Job {
            graph,
            detail: format!(
                "empty model: {}x{} pixels, {} samples",
                shape.width, shape.height, shape.samples_per_pixel
            ),
        });
    }
    let area = shape.width.checked_mul(shape.height);
    let samples = area.and_then(|a| a.checked_mul(shape.samples_per_pixel));
    let (Some(area), Some(samples)) = (area, samples) else {
        return Err(OnnxError::Job {
            graph,
            detail: "model size overflows".to_string(),
        });
    };
    check_len(graph, "samples", state.samples.len(), samples)?;
    for (what, len) in [
        ("radius", state.radius.len()),
        ("flicker", state.flicker.len()),
        ("previous_raw", state.previous_raw.len()),
        ("trust", state.trust.len()),
        ("reference", state.reference.len()),
        ("foreground_frames", state.foreground_frames.len()),
    ] {
        check_len(graph, what, len, area)?;
    }
    Ok(shape)
}

impl ClassifyRequest {
    /// Copies the job in, checking every length.
    pub(crate) fn fill(&mut self, job: &ClassifyJob<'_>) -> Result<(), OnnxError> {
        let graph = CLASSIFY.name;
        let shape = state_shape(graph, job.state, job.params.cleanup_radius)?;
        let area = shape.area();
        check_len(graph, "luma", job.luma.len(), area)?;
        check_len(graph, "raw_mask", job.raw_mask.len(), area)?;
        check_len(graph, "clean_mask", job.clean_mask.len(), area)?;
        self.shape = Some(shape);
        self.min_radius = job.min_radius;
        self.min_matches = job.params.min_matches;
        self.cleanup_min_votes = job.params.cleanup_min_votes;
        self.cleanup_radius = job.params.cleanup_radius;
        copy_into(&mut self.luma, job.luma);
        copy_into(&mut self.samples, &job.state.samples);
        copy_into(&mut self.radius, &job.state.radius);
        self.raw_mask.resize(area, 0);
        self.clean_mask.resize(area, 0);
        Ok(())
    }

    /// Copies the masks out into the job.
    pub(crate) fn finish(&self, job: &mut ClassifyJob<'_>) {
        job.raw_mask.copy_from_slice(&self.raw_mask);
        job.clean_mask.copy_from_slice(&self.clean_mask);
    }
}

impl UpdateRequest {
    /// Copies the job's frame, masks and draws in and moves its model in (the job holds an
    /// empty one until [`UpdateRequest::finish`]), checking every length first.
    pub(crate) fn fill(&mut self, job: &mut UpdateJob<'_>) -> Result<(), OnnxError> {
        let graph = UPDATE.name;
        let shape = state_shape(graph, job.state, 0)?;
        let area = shape.area();
        check_len(graph, "luma", job.luma.len(), area)?;
        check_len(graph, "raw_mask", job.raw_mask.len(), area)?;
        check_len(graph, "final_mask", job.final_mask.len(), area)?;
        for (what, len) in [
            ("own_slot", job.draws.own_slot.len()),
            ("spread_dir", job.draws.spread_dir.len()),
            ("spread_slot", job.draws.spread_slot.len()),
            ("ghost_dir", job.draws.ghost_dir.len()),
            ("ghost_slot", job.draws.ghost_slot.len()),
        ] {
            check_len(graph, what, len, area)?;
        }
        let p = job.params;
        self.shape = Some(shape);
        self.params = [
            p.match_radius,
            p.min_matches,
            p.absorb_after,
            p.ghost_after,
            p.flicker_increment,
            p.flicker_decrement,
            p.flicker_extra,
            p.propagation,
        ];
        copy_into(&mut self.luma, job.luma);
        copy_into(&mut self.raw_mask, job.raw_mask);
        copy_into(&mut self.final_mask, job.final_mask);
        self.draws.clone_from(job.draws);
        self.foreground_frames.clear();
        self.foreground_frames
            .extend(job.state.foreground_frames.iter().map(|&f| i32::from(f)));
        mem::swap(&mut self.state, job.state);
        Ok(())
    }

    /// Moves the model back into the job: the updated one after a successful run, the
    /// untouched one after a failed run.
    pub(crate) fn finish(&mut self, job: &mut UpdateJob<'_>) {
        mem::swap(&mut self.state, job.state);
    }
}

fn copy_into<T: Copy>(buffer: &mut Vec<T>, data: &[T]) {
    buffer.clear();
    buffer.extend_from_slice(data);
}

/// A request's batching key.
pub(crate) trait Request {
    fn shape(&self) -> Option<Shape>;
}

impl Request for ClassifyRequest {
    fn shape(&self) -> Option<Shape> {
        self.shape
    }
}

impl Request for UpdateRequest {
    fn shape(&self) -> Option<Shape> {
        self.shape
    }
}

/// One graph's session on one worker, with the batch buffers it reuses from run to run.
pub(crate) struct Runner<R: 'static> {
    graph: &'static Graph<R>,
    session: Session,
    bytes: Vec<Vec<u8>>,
    ints: Vec<Vec<i32>>,
    longs: Vec<Vec<i64>>,
}

impl<R> Debug for Runner<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("graph", &self.graph.name)
            .finish()
    }
}

impl<R: Request> Runner<R> {
    pub(crate) fn new(graph: &'static Graph<R>, session: Session) -> Self {
        Self {
            graph,
            session,
            bytes: vec![Vec::new(); graph.bytes.len()],
            ints: vec![Vec::new(); graph.ints.len()],
            longs: vec![Vec::new(); graph.longs.len()],
        }
    }

    pub(crate) fn graph_name(&self) -> &'static str {
        self.graph.name
    }

    /// Runs the graph on `batch` (all of one [`Shape`]) and writes each camera's outputs into
    /// its request. On error no request's outputs have been touched.
    pub(crate) fn run(&mut self, batch: &mut [Box<R>]) -> Result<(), OnnxError> {
        let graph = self.graph;
        let shape = match batch.first().and_then(|r| r.shape()) {
            Some(shape) if batch.iter().all(|r| r.shape() == Some(shape)) => shape,
            _ => {
                return Err(OnnxError::Job {
                    graph: graph.name,
                    detail: "a batch mixes shapes or holds an unfilled request".to_string(),
                });
            }
        };
        let cameras = batch.len();
        pack(graph.bytes, &mut self.bytes, batch);
        pack(graph.ints, &mut self.ints, batch);
        pack(graph.longs, &mut self.longs, batch);
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'_>)> = Vec::new();
        add_inputs(
            graph,
            graph.bytes,
            &self.bytes,
            cameras,
            &shape,
            &mut inputs,
        )?;
        add_inputs(graph, graph.ints, &self.ints, cameras, &shape, &mut inputs)?;
        add_inputs(
            graph,
            graph.longs,
            &self.longs,
            cameras,
            &shape,
            &mut inputs,
        )?;
        let outputs = self.session.run(inputs).map_err(|source| OnnxError::Run {
            graph: graph.name,
            cameras,
            source,
        })?;
        let bytes = extract::<R, u8, u8>(graph, graph.byte_outputs, &outputs, cameras, &shape)?;
        let counters =
            extract::<R, i32, u16>(graph, graph.counter_outputs, &outputs, cameras, &shape)?;
        for (output, data) in graph.counter_outputs.iter().zip(&counters) {
            if let Some(bad) = data.iter().position(|&v| u16::try_from(v).is_err()) {
                return Err(OnnxError::Output {
                    graph: graph.name,
                    output: output.name,
                    detail: format!("value {} at index {bad} is outside 0..=65535", data[bad]),
                });
            }
        }
        for (k, request) in batch.iter_mut().enumerate() {
            for (output, data) in graph.byte_outputs.iter().zip(&bytes) {
                write_part(output, request, data, cameras, k, |&v| v);
            }
            for (output, data) in graph.counter_outputs.iter().zip(&counters) {
                // Checked to be in range above.
                write_part(output, request, data, cameras, k, |&v| v as u16);
            }
        }
        Ok(())
    }
}

/// Stacks each request's part of every input into that input's reused buffer.
fn pack<R, T: Copy>(inputs: &[Input<R, T>], buffers: &mut [Vec<T>], batch: &[Box<R>]) {
    for (input, buffer) in inputs.iter().zip(buffers) {
        buffer.clear();
        let requests = if input.layout == Layout::Batch {
            &batch[..1]
        } else {
            batch
        };
        for request in requests {
            buffer.extend_from_slice((input.part)(request));
        }
    }
}

/// Wraps the packed buffers as the session's named input tensors (no copy).
fn add_inputs<'b, R, T>(
    graph: &Graph<R>,
    inputs: &[Input<R, T>],
    buffers: &'b [Vec<T>],
    cameras: usize,
    shape: &Shape,
    into: &mut Vec<(Cow<'static, str>, SessionInputValue<'b>)>,
) -> Result<(), OnnxError>
where
    T: PrimitiveTensorElementType + Clone + Debug + 'static,
{
    for (input, buffer) in inputs.iter().zip(buffers) {
        let dims = input.layout.dims(cameras, shape);
        let view =
            ArrayView::from_shape(IxDyn(&dims), buffer.as_slice()).map_err(|e| OnnxError::Job {
                graph: graph.name,
                detail: format!("input `{}` of shape {dims:?}: {e}", input.name),
            })?;
        let tensor = TensorRef::from_array_view(view).map_err(|source| OnnxError::Ort {
            context: format!("{}.onnx input `{}`", graph.name, input.name),
            source,
        })?;
        into.push((Cow::Borrowed(input.name), tensor.into()));
    }
    Ok(())
}

/// Each output's data, checked for its shape before anything is written.
fn extract<'o, R, G, T>(
    graph: &Graph<R>,
    outputs: &[Output<R, T>],
    values: &'o SessionOutputs<'_>,
    cameras: usize,
    shape: &Shape,
) -> Result<Vec<&'o [G]>, OnnxError>
where
    G: PrimitiveTensorElementType,
{
    outputs
        .iter()
        .map(|output| {
            let fail = |detail: String| OnnxError::Output {
                graph: graph.name,
                output: output.name,
                detail,
            };
            let value = values
                .get(output.name)
                .ok_or_else(|| fail("missing from the graph's results".to_string()))?;
            let (actual, data) = value
                .try_extract_tensor::<G>()
                .map_err(|e| fail(e.to_string()))?;
            let expected = output.layout.dims(cameras, shape);
            if actual
                .iter()
                .map(|&d| usize::try_from(d).ok())
                .ne(expected.iter().map(|&d| Some(d)))
            {
                return Err(fail(format!("shape {actual:?}, expected {expected:?}")));
            }
            Ok(data)
        })
        .collect()
}

/// Copies camera `k`'s part of one output into its request.
fn write_part<R, G, T>(
    output: &Output<R, T>,
    request: &mut R,
    data: &[G],
    cameras: usize,
    k: usize,
    convert: impl Fn(&G) -> T,
) {
    let part = (output.part)(request);
    let per_camera = data.len() / cameras;
    let source = &data[k * per_camera..(k + 1) * per_camera];
    for (to, from) in part.iter_mut().zip(source) {
        *to = convert(from);
    }
}
