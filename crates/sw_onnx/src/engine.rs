//! The engine: worker threads that own the sessions, gather jobs from several cameras into
//! batches and reply to each camera; and the per-camera [`OnnxBackend`] handle.
//!
//! Owns: starting the engine (runtime, verified models, providers, sessions, threads), the
//! batching policy, the channels between cameras and workers, and error delivery (a failed
//! run answers every job of its batch; no input makes a worker panic or stop).
//! Does not own: the tensor layout of a job (see `graphs`), or the checks on the library and
//! the models (`runtime`, `manifest`).
//!
//! Channels: each worker reads a bounded queue (`4 * batch_size` jobs); a camera that finds
//! it full waits (it would wait for its reply anyway). Each camera has its own one-slot reply
//! channel per graph. A worker stops when the engine and every backend attached to it are
//! dropped.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendError, Sender};
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::SessionBuilder;
use sw_motion::{BackendError, ClassifyJob, PixelBackend, UpdateJob};

use crate::graphs::{
    CLASSIFY, ClassifyRequest, Graph, Request, Runner, Shape, UPDATE, UpdateRequest,
};
use crate::manifest::{Manifest, ModelInfo, VerifiedModel, locate_models_dir};
use crate::runtime::{environment, locate_library};
use crate::{OnnxError, OnnxOptions, Provider};

/// A job on its way to a worker, with where to send the request back.
struct Envelope<R> {
    request: Box<R>,
    reply: Sender<Done<R>>,
}

/// A request coming back: its outputs written when `result` is `Ok`.
struct Done<R> {
    request: Box<R>,
    result: Result<(), Arc<OnnxError>>,
}

enum Message {
    Classify(Envelope<ClassifyRequest>),
    Update(Envelope<UpdateRequest>),
}

impl Message {
    /// Jobs batch together when their keys are equal.
    fn key(&self) -> (bool, Option<Shape>) {
        match self {
            Self::Classify(e) => (true, e.request.shape()),
            Self::Update(e) => (false, e.request.shape()),
        }
    }
}

/// A request type and its variant of [`Message`].
trait Routed: Sized {
    fn wrap(envelope: Envelope<Self>) -> Message;
    fn unwrap(message: Message) -> Option<Envelope<Self>>;
}

impl Routed for ClassifyRequest {
    fn wrap(envelope: Envelope<Self>) -> Message {
        Message::Classify(envelope)
    }

    fn unwrap(message: Message) -> Option<Envelope<Self>> {
        match message {
            Message::Classify(envelope) => Some(envelope),
            Message::Update(_) => None,
        }
    }
}

impl Routed for UpdateRequest {
    fn wrap(envelope: Envelope<Self>) -> Message {
        Message::Update(envelope)
    }

    fn unwrap(message: Message) -> Option<Envelope<Self>> {
        match message {
            Message::Update(envelope) => Some(envelope),
            Message::Classify(_) => None,
        }
    }
}

/// A worker as the engine and the backends see it.
#[derive(Debug, Clone)]
struct WorkerLink {
    index: usize,
    sender: Sender<Message>,
    /// Backends attached to the worker: when that many jobs are queued, no more can come.
    attached: Arc<AtomicUsize>,
}

/// Runs the detector's per-pixel step through ONNX Runtime for any number of cameras.
pub struct OnnxEngine {
    library: PathBuf,
    models: Vec<ModelInfo>,
    provider: Provider,
    workers: Vec<WorkerLink>,
    threads: Vec<JoinHandle<()>>,
    next_worker: AtomicUsize,
}

impl fmt::Debug for OnnxEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxEngine")
            .field("library", &self.library)
            .field("models", &self.models)
            .field("provider", &self.provider)
            .field("workers", &self.workers.len())
            .finish()
    }
}

/// One line for reports: the provider, each graph with the start of its hash, the runtime.
impl fmt::Display for OnnxEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "onnx on {} (", self.provider)?;
        for (k, model) in self.models.iter().enumerate() {
            let separator = if k == 0 { "" } else { ", " };
            write!(
                f,
                "{separator}{} sha256:{}",
                model.name,
                &model.sha256[..12]
            )?;
        }
        write!(f, "; runtime {})", self.library.display())
    }
}

impl OnnxEngine {
    /// Loads the runtime, verifies both graphs against the manifest, creates each worker's
    /// sessions on the requested provider and starts the workers. Any failure (no library, an
    /// old one, a tampered graph, a provider that cannot be registered) is an error here,
    /// before a frame is processed.
    pub fn start(options: &OnnxOptions) -> Result<Self, OnnxError> {
        let library = locate_library(options.runtime_library.as_deref())?;
        let environment = environment(&library)?;
        let models_dir = locate_models_dir(options.models_dir.as_deref())?;
        let manifest = Manifest::read(&models_dir)?;
        let classify_model = manifest.verify(CLASSIFY.name)?;
        let update_model = manifest.verify(UPDATE.name)?;
        let batch_size = options.batch_size.max(1);
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for index in 0..options.workers.max(1) {
            let classify = Runner::new(
                &CLASSIFY,
                session(&environment, options, &classify_model, &CLASSIFY)?,
            );
            let update = Runner::new(
                &UPDATE,
                session(&environment, options, &update_model, &UPDATE)?,
            );
            let (sender, receiver) = crossbeam_channel::bounded(4 * batch_size);
            let link = WorkerLink {
                index,
                sender,
                attached: Arc::new(AtomicUsize::new(0)),
            };
            let worker = Worker {
                index,
                receiver,
                attached: Arc::clone(&link.attached),
                batch_size,
                batch_wait: options.batch_wait,
                classify,
                update,
            };
            let thread = thread::Builder::new()
                .name(format!("onnx-worker-{index}"))
                .spawn(move || worker.serve())
                .map_err(|source| OnnxError::Spawn {
                    worker: index,
                    source,
                })?;
            workers.push(link);
            threads.push(thread);
        }
        let models = vec![classify_model.info, update_model.info];
        tracing::info!(
            library = %library.display(),
            provider = %options.provider,
            workers = workers.len(),
            batch_size,
            models = ?models.iter().map(|m| format!("{} {}", m.name, m.sha256)).collect::<Vec<_>>(),
            "ONNX engine started"
        );
        Ok(Self {
            library,
            models,
            provider: options.provider.clone(),
            workers,
            threads,
            next_worker: AtomicUsize::new(0),
        })
    }

    /// The graphs in use, each checked against the manifest's SHA-256 (for the audit log).
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The ONNX Runtime library in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Where the graphs run.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// A backend for one camera's detector, served by the next worker in turn.
    pub fn backend(&self) -> OnnxBackend {
        let k = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let worker = self.workers[k].clone();
        worker.attached.fetch_add(1, Ordering::SeqCst);
        OnnxBackend {
            worker,
            classify: Exchange::new(),
            update: Exchange::new(),
        }
    }

    /// Stops the workers and waits for them; it returns once every backend is dropped too.
    pub fn join(mut self) {
        self.workers.clear();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("an ONNX worker thread panicked");
            }
        }
    }
}

/// Creates one graph's session on the requested provider and checks its interface against
/// the manifest and against what the engine feeds it.
fn session<R>(
    environment: &ort::environment::Environment,
    options: &OnnxOptions,
    model: &VerifiedModel,
    graph: &Graph<R>,
) -> Result<Session, OnnxError> {
    let path = &model.info.path;
    let ort_error = |what: &str| {
        let context = format!("{what} for {}", path.display());
        move |source: ort::Error<SessionBuilder>| OnnxError::Ort {
            context,
            source: source.into(),
        }
    };
    let builder = Session::builder(environment)
        .map_err(|source| OnnxError::Ort {
            context: format!("creating a session for {}", path.display()),
            source,
        })?
        .with_intra_threads(options.intra_op_threads)
        .map_err(ort_error("setting intra-op threads"))?
        .with_inter_threads(1)
        .map_err(ort_error("setting inter-op threads"))?
        // Idle workers must not spin: the cameras' other stages share these cores.
        .with_intra_op_spinning(false)
        .map_err(ort_error("turning intra-op spinning off"))?
        .with_inter_op_spinning(false)
        .map_err(ort_error("turning inter-op spinning off"))?;
    let mut builder = register_provider(builder, &options.provider)?;
    let session = builder
        .commit_from_memory(&model.bytes)
        .map_err(|source| OnnxError::Ort {
            context: format!("loading {}", path.display()),
            source,
        })?;
    model.check_interface(session.inputs(), session.outputs())?;
    let (inputs, outputs) = graph.interface();
    for (kind, expected, actual) in [
        ("input", inputs, session.inputs()),
        ("output", outputs, session.outputs()),
    ] {
        for (name, ty) in expected {
            let found = actual.iter().find(|o| o.name() == name);
            let matches = found.is_some_and(
                |o| matches!(o.dtype(), ort::value::ValueType::Tensor { ty: t, .. } if *t == ty),
            );
            if !matches {
                return Err(OnnxError::ModelInterface {
                    path: path.clone(),
                    detail: format!(
                        "the engine expects {kind} `{name}` of type {ty} (docs/design/onnx.md); the graph has {}",
                        found.map_or(format!("no such {kind}"), |o| o.dtype().to_string())
                    ),
                });
            }
        }
    }
    Ok(session)
}

const CUDA_HINT: &str = "the CPU-only `onnxruntime` wheel has no CUDA provider: install the GPU build in its place (`python3 -m pip install --no-deps --upgrade --target .ort onnxruntime-gpu==1.31.1`) with CUDA 12 and cuDNN 9 libraries on the loader path, or choose the CPU provider";
const TENSORRT_HINT: &str = "TensorRT needs the `onnxruntime-gpu==1.31.1` wheel's library (in .ort) plus TensorRT 10, CUDA 12 and cuDNN 9 libraries on the loader path, or choose the CPU provider";
const OPENVINO_HINT: &str = "OpenVINO needs an ONNX Runtime 1.31 or newer built with OpenVINO (the PyPI `onnxruntime-openvino` wheel stops at 1.24, too old for this build), or choose the CPU provider";

/// Registers the requested accelerator, refusing to go on without it.
fn register_provider(
    builder: SessionBuilder,
    provider: &Provider,
) -> Result<SessionBuilder, OnnxError> {
    let (available, dispatch, hint) = match provider {
        Provider::Cpu => return Ok(builder),
        Provider::Cuda { device_id } => (
            ep::CUDA::is_available(),
            ep::CUDA::default().with_device_id(*device_id).build(),
            CUDA_HINT,
        ),
        Provider::TensorRt { device_id } => (
            ep::TensorRT::is_available(),
            ep::TensorRT::default().with_device_id(*device_id).build(),
            TENSORRT_HINT,
        ),
        Provider::OpenVino => (
            ep::OpenVINO::is_available(),
            ep::OpenVINO::default().build(),
            OPENVINO_HINT,
        ),
    };
    let fail = |detail: String| OnnxError::Provider {
        provider: provider.clone(),
        detail,
        hint,
    };
    match available {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                "this ONNX Runtime library was built without it".to_string(),
            ));
        }
        Err(error) => return Err(fail(error.to_string())),
    }
    builder
        .with_execution_providers([dispatch.error_on_failure()])
        .map_err(|error| fail(error.to_string()))
}

/// One worker thread: its sessions and its queue.
struct Worker {
    index: usize,
    receiver: Receiver<Message>,
    attached: Arc<AtomicUsize>,
    batch_size: usize,
    batch_wait: Duration,
    classify: Runner<ClassifyRequest>,
    update: Runner<UpdateRequest>,
}

impl Worker {
    /// Serves batches until every sender is gone.
    fn serve(mut self) {
        let mut waiting: VecDeque<Message> = VecDeque::new();
        loop {
            let first = match waiting.pop_front() {
                Some(message) => message,
                None => match self.receiver.recv() {
                    Ok(message) => message,
                    Err(_) => return,
                },
            };
            let batch = self.gather(first, &mut waiting);
            self.run(batch);
        }
    }

    /// Jobs batching with `first`: those already waiting, then new ones until the batch is
    /// full, `batch_wait` has passed, or every attached camera has a job queued (none can
    /// come). Jobs of another kind or shape wait for a later batch.
    fn gather(&self, first: Message, waiting: &mut VecDeque<Message>) -> Vec<Message> {
        let key = first.key();
        let mut batch = vec![first];
        let mut k = 0;
        while k < waiting.len() && batch.len() < self.batch_size {
            if waiting[k].key() == key {
                batch.extend(waiting.remove(k));
            } else {
                k += 1;
            }
        }
        let deadline = Instant::now() + self.batch_wait;
        while batch.len() < self.batch_size
            && batch.len() + waiting.len() < self.attached.load(Ordering::SeqCst)
        {
            match self.receiver.recv_deadline(deadline) {
                Ok(message) if message.key() == key => batch.push(message),
                Ok(message) => waiting.push_back(message),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        batch
    }

    fn run(&mut self, batch: Vec<Message>) {
        let mut classify = Vec::new();
        let mut update = Vec::new();
        for message in batch {
            match message {
                Message::Classify(envelope) => classify.push(envelope),
                Message::Update(envelope) => update.push(envelope),
            }
        }
        let index = self.index;
        if !classify.is_empty() {
            run_batch(index, &mut self.classify, classify);
        }
        if !update.is_empty() {
            run_batch(index, &mut self.update, update);
        }
    }
}

/// Runs one batch and answers every job in it; a panic inside ort becomes an error for the
/// batch instead of ending the worker.
fn run_batch<R: Request>(worker: usize, runner: &mut Runner<R>, batch: Vec<Envelope<R>>) {
    let (mut requests, replies): (Vec<Box<R>>, Vec<Sender<Done<R>>>) =
        batch.into_iter().map(|e| (e.request, e.reply)).unzip();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| runner.run(&mut requests)));
    let result = match outcome {
        Ok(result) => result,
        Err(panic) => Err(OnnxError::WorkerPanicked {
            worker,
            graph: runner.graph_name(),
            message: panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
        }),
    };
    if let Err(error) = &result {
        tracing::warn!(worker, cameras = requests.len(), %error, "ONNX batch failed");
    }
    let result = result.map_err(Arc::new);
    for (request, reply) in requests.into_iter().zip(replies) {
        // A camera that stopped waiting has dropped its receiver: nothing to tell it.
        let _ = reply.send(Done {
            request,
            result: result.clone(),
        });
    }
}

/// One camera's round trip for one graph: the request buffers it reuses and its reply
/// channel.
struct Exchange<R> {
    request: Option<Box<R>>,
    reply_sender: Sender<Done<R>>,
    reply_receiver: Receiver<Done<R>>,
}

impl<R: Routed + Default> Exchange<R> {
    fn new() -> Self {
        // One job in flight per camera and graph: one slot, never full when a reply comes.
        let (reply_sender, reply_receiver) = crossbeam_channel::bounded(1);
        Self {
            request: None,
            reply_sender,
            reply_receiver,
        }
    }

    /// Takes the reusable request (a fresh one the first time or after a lost one).
    fn take(&mut self) -> Box<R> {
        self.request.take().unwrap_or_default()
    }

    /// Sends `request` to the worker, waits for it to come back, and keeps it for next time;
    /// `finish` sees it with the run's result.
    fn call(
        &mut self,
        worker: &WorkerLink,
        request: Box<R>,
        finish: impl FnOnce(&mut R, Result<(), Arc<OnnxError>>) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let stopped = || OnnxError::WorkerStopped {
            worker: worker.index,
        };
        let envelope = Envelope {
            request,
            reply: self.reply_sender.clone(),
        };
        if let Err(SendError(message)) = worker.sender.send(R::wrap(envelope)) {
            // The worker is gone: hand the request (and a moved-in model) straight back.
            return match R::unwrap(message) {
                Some(envelope) => {
                    let mut request = envelope.request;
                    let outcome = finish(&mut request, Err(Arc::new(stopped())));
                    self.request = Some(request);
                    outcome
                }
                None => Err(stopped().into()),
            };
        }
        let Done {
            mut request,
            result,
        } = self.reply_receiver.recv().map_err(|_| stopped())?;
        let outcome = finish(&mut request, result);
        self.request = Some(request);
        outcome
    }
}

impl<R> fmt::Debug for Exchange<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("buffers_ready", &self.request.is_some())
            .finish()
    }
}

/// One camera's handle on the engine: a [`PixelBackend`] for `Detector::with_backend`. Each
/// call blocks until the worker has run the batch holding the job.
#[derive(Debug)]
pub struct OnnxBackend {
    worker: WorkerLink,
    classify: Exchange<ClassifyRequest>,
    update: Exchange<UpdateRequest>,
}

impl OnnxBackend {
    /// The worker serving this camera.
    pub fn worker(&self) -> usize {
        self.worker.index
    }
}

impl Drop for OnnxBackend {
    fn drop(&mut self) {
        self.worker.attached.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PixelBackend for OnnxBackend {
    fn classify(&mut self, mut job: ClassifyJob<'_>) -> Result<(), BackendError> {
        let mut request = self.classify.take();
        request.fill(&job)?;
        self.classify
            .call(&self.worker, request, |request, result| {
                result?;
                request.finish(&mut job);
                Ok(())
            })
    }

    fn update(&mut self, mut job: UpdateJob<'_>) -> Result<(), BackendError> {
        let mut request = self.update.take();
        request.fill(&mut job)?;
        self.update.call(&self.worker, request, |request, result| {
            request.finish(&mut job);
            result.map_err(BackendError::from)
        })
    }
}
