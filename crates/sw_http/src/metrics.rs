//! Prometheus metrics: what the service counts as it runs ([`Metrics`], [`CameraMetrics`]) and
//! what is read from camera status at scrape time, written in the Prometheus text format 0.0.4.
//!
//! | metric | type | from |
//! |---|---|---|
//! | `stillwatch_build_info{version}` | gauge (1) | this build |
//! | `stillwatch_camera_frames_received_total{camera}` | counter | status (its rate: fps in) |
//! | `stillwatch_camera_frames_dropped_total{camera}` | counter | status |
//! | `stillwatch_camera_reconnects_total{camera}` | counter | status |
//! | `stillwatch_camera_state{camera,state}` | gauge, 1 for the current state, 0 for the others | status |
//! | `stillwatch_camera_last_frame_timestamp_seconds{camera}` | gauge (Unix time) | status |
//! | `stillwatch_camera_frames_analysed_total{camera}` | counter | [`CameraMetrics::frame_analysed`] |
//! | `stillwatch_camera_processing_seconds{camera}` | histogram, 0.1 ms to 102.4 ms | [`CameraMetrics::frame_analysed`] |
//! | `stillwatch_camera_events_started_total{camera}` | counter | [`CameraMetrics::event_started`] |
//! | `stillwatch_camera_event_latency_seconds{camera}` | histogram, 1 ms to 8.2 s | [`CameraMetrics::event_latency`] |
//! | `stillwatch_audit_records_written_total` | counter | [`Metrics::audit_records_written`] |
//!
//! The state gauge follows the convention of kube-state-metrics' `kube_pod_status_phase`: one
//! series per possible state, so `stillwatch_camera_state{state="streaming"} == 0` alerts on a
//! camera that is not streaming, whatever else it is doing. Counters read from status restart
//! from 0 when a camera restarts (a reload that changed it); Prometheus' `rate()` handles such
//! resets. Label values are camera ids, which `CameraId` keeps to `[A-Za-z0-9_.-]`; no label
//! ever holds a URL, host or user name.
//!
//! Owns: the metric names, help texts, buckets and label sets, and the text encoding. Does not
//! own: when metrics are updated (sw_service) or serving them (`server`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use sw_core::CameraId;
use sw_ingest::{CameraState, CameraStatus};

/// The `Content-Type` of what [`Metrics::encode`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabels {
    camera: String,
}

impl CameraLabels {
    fn of(camera: &CameraId) -> Self {
        Self {
            camera: camera.as_str().to_owned(),
        }
    }
}

type HistogramFamily = Family<CameraLabels, Histogram, fn() -> Histogram>;

/// Time to analyse one frame: 0.1 ms, doubling, to 102.4 ms (11 buckets, then +Inf). A
/// 320x240 frame takes about 0.35 ms (docs/design/motion.md); the top bucket is a frame budget
/// at 10 fps.
fn processing_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 11))
}

/// Frame to event record: 1 ms, doubling, to 8.192 s (14 buckets, then +Inf): from analysis
/// alone up to a writer held up by a slow disk.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// The service's metrics. Cloning gives another handle on the same metrics; every update is
/// an atomic add, or a short uncontended lock for a histogram observation.
#[derive(Clone, Debug)]
pub struct Metrics(Arc<Families>);

#[derive(Debug)]
struct Families {
    frames_analysed: Family<CameraLabels, Counter>,
    processing_seconds: HistogramFamily,
    events_started: Family<CameraLabels, Counter>,
    event_latency_seconds: HistogramFamily,
    audit_records_written: Counter,
}

/// One camera's metrics, for its motion thread: no label lookup or map lock per update.
#[derive(Clone, Debug)]
pub struct CameraMetrics {
    frames_analysed: Counter,
    processing_seconds: Histogram,
    events_started: Counter,
    event_latency_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self(Arc::new(Families {
            frames_analysed: Family::default(),
            processing_seconds: Family::new_with_constructor(processing_histogram),
            events_started: Family::default(),
            event_latency_seconds: Family::new_with_constructor(latency_histogram),
            audit_records_written: Counter::default(),
        }))
    }

    /// `camera`'s metrics, created at zero when new (so they show from the camera's start).
    /// Take it once when the camera starts. Handles taken before [`Metrics::remove_camera`]
    /// keep working but no longer show; take a new one if the camera comes back.
    pub fn camera(&self, camera: &CameraId) -> CameraMetrics {
        let labels = CameraLabels::of(camera);
        let families = &self.0;
        CameraMetrics {
            frames_analysed: families.frames_analysed.get_or_create_owned(&labels),
            processing_seconds: families.processing_seconds.get_or_create_owned(&labels),
            events_started: families.events_started.get_or_create_owned(&labels),
            event_latency_seconds: families.event_latency_seconds.get_or_create_owned(&labels),
        }
    }

    /// Drops `camera`'s series, for a camera that left the config. (Series read from status
    /// leave with the camera's status.)
    pub fn remove_camera(&self, camera: &CameraId) {
        let labels = CameraLabels::of(camera);
        let families = &self.0;
        families.frames_analysed.remove(&labels);
        families.processing_seconds.remove(&labels);
        families.events_started.remove(&labels);
        families.event_latency_seconds.remove(&labels);
    }

    /// Counts `count` records appended to the audit log.
    pub fn audit_records_written(&self, count: u64) {
        self.0.audit_records_written.inc_by(count);
    }

    /// Every metric, those read from `cameras` included, in the Prometheus text format 0.0.4
    /// ([`CONTENT_TYPE`]).
    pub(crate) fn encode(&self, cameras: Vec<CameraStatus>) -> Result<String, fmt::Error> {
        let families = &self.0;
        let mut registry = Registry::with_prefix("stillwatch");
        registry.register(
            "build",
            "Stillwatch's version; always 1",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "camera_frames_analysed",
            "Frames the motion detector analysed",
            families.frames_analysed.clone(),
        );
        registry.register(
            "camera_processing_seconds",
            "Time to analyse one frame (detector and event tracker)",
            families.processing_seconds.clone(),
        );
        registry.register(
            "camera_events_started",
            "Motion events started",
            families.events_started.clone(),
        );
        registry.register(
            "camera_event_latency_seconds",
            "Time from a frame's arrival to the motion record it produced leaving for the outputs",
            families.event_latency_seconds.clone(),
        );
        registry.register(
            "audit_records_written",
            "Records appended to the audit log",
            families.audit_records_written.clone(),
        );
        registry.register_collector(Box::new(StatusMetrics { cameras }));
        // (`register` ends each help text with a full stop.)
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

impl CameraMetrics {
    /// Counts a frame analysed in `processing` (the detector and the event tracker's step).
    pub fn frame_analysed(&self, processing: Duration) {
        self.frames_analysed.inc();
        self.processing_seconds.observe(processing.as_secs_f64());
    }

    /// Counts an event's start (its `start` record).
    pub fn event_started(&self) {
        self.events_started.inc();
    }

    /// Records how long after its frame arrived a motion record left for the outputs.
    pub fn event_latency(&self, latency: Duration) {
        self.event_latency_seconds.observe(latency.as_secs_f64());
    }
}

/// Every camera state, in the order the state gauge lists them.
const STATES: [CameraState; 6] = [
    CameraState::Connecting,
    CameraState::Streaming,
    CameraState::Stalled,
    CameraState::BackingOff,
    CameraState::AuthFailed,
    CameraState::Stopped,
];

/// The `state` label: the same word as the status JSON. The match is exhaustive, so a new
/// state in sw_ingest fails to compile here, as a reminder to add it to [`STATES`].
fn state_name(state: CameraState) -> &'static str {
    match state {
        CameraState::Connecting => "connecting",
        CameraState::Streaming => "streaming",
        CameraState::Stalled => "stalled",
        CameraState::BackingOff => "backing_off",
        CameraState::AuthFailed => "auth_failed",
        CameraState::Stopped => "stopped",
    }
}

/// The metrics read from camera status, for one scrape.
#[derive(Debug)]
struct StatusMetrics {
    cameras: Vec<CameraStatus>,
}

impl StatusMetrics {
    fn counter(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: fn(&CameraStatus) -> u64,
    ) -> Result<(), fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for status in &self.cameras {
            let labels = [("camera", status.camera.as_str())];
            ConstCounter::new(value(status)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Collector for StatusMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        // Like the registry, leave out a metric with no series rather than print a bare header.
        if self.cameras.is_empty() {
            return Ok(());
        }
        self.counter(
            &mut encoder,
            "camera_frames_received",
            "Analysis frames that came out of the camera's pipeline; its rate is the fps in.",
            |status| status.frames_received,
        )?;
        self.counter(
            &mut encoder,
            "camera_frames_dropped",
            "Frames lost because analysis fell behind.",
            |status| status.frames_dropped,
        )?;
        self.counter(
            &mut encoder,
            "camera_reconnects",
            "Connection attempts after the first.",
            |status| status.reconnects,
        )?;
        let mut metric = encoder.encode_descriptor(
            "camera_state",
            "The camera's state: 1 for the state it is in, 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        for status in &self.cameras {
            for state in STATES {
                let labels = [
                    ("camera", status.camera.as_str()),
                    ("state", state_name(state)),
                ];
                ConstGauge::new(i64::from(status.state == state))
                    .encode(metric.encode_family(&labels)?)?;
            }
        }
        let last_frames: Vec<(&str, u64)> = self
            .cameras
            .iter()
            .filter_map(|status| Some((status.camera.as_str(), status.last_frame_unix_millis?)))
            .collect();
        if last_frames.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "camera_last_frame_timestamp_seconds",
            "When the camera's last frame arrived, in seconds since the Unix epoch.",
            None,
            MetricType::Gauge,
        )?;
        for (camera, millis) in last_frames {
            ConstGauge::new(millis as f64 / 1000.0)
                .encode(metric.encode_family(&[("camera", camera)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sw_ingest::RtspHead;

    fn status(camera: &str, state: CameraState, last_frame: Option<u64>) -> CameraStatus {
        CameraStatus {
            camera: CameraId::new(camera).unwrap(),
            state,
            since_unix_millis: 1_700_000_000_000,
            reason: None,
            frames_received: 120,
            frames_dropped: 3,
            reconnects: 2,
            last_frame_unix_millis: last_frame,
            rtsp_client: Some(RtspHead::Retina),
        }
    }

    #[test]
    fn state_labels_match_the_status_json_and_cover_every_state() {
        for state in STATES {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json.as_str(), Some(state_name(state)));
        }
    }

    #[test]
    fn encodes_pushed_and_status_metrics_with_camera_labels() {
        let metrics = Metrics::new();
        let gate = metrics.camera(&CameraId::new("gate").unwrap());
        gate.frame_analysed(Duration::from_micros(150));
        gate.frame_analysed(Duration::from_micros(900));
        gate.event_started();
        gate.event_latency(Duration::from_millis(3));
        metrics.audit_records_written(2);
        let text = metrics
            .encode(vec![status(
                "gate",
                CameraState::Streaming,
                Some(1_700_000_000_500),
            )])
            .unwrap();
        let expected = [
            "# TYPE stillwatch_camera_frames_received_total counter",
            r#"stillwatch_camera_frames_received_total{camera="gate"} 120"#,
            r#"stillwatch_camera_frames_dropped_total{camera="gate"} 3"#,
            r#"stillwatch_camera_reconnects_total{camera="gate"} 2"#,
            r#"stillwatch_camera_state{camera="gate",state="streaming"} 1"#,
            r#"stillwatch_camera_state{camera="gate",state="stalled"} 0"#,
            r#"stillwatch_camera_last_frame_timestamp_seconds{camera="gate"} 1700000000.5"#,
            r#"stillwatch_camera_frames_analysed_total{camera="gate"} 2"#,
            r#"stillwatch_camera_processing_seconds_bucket{camera="gate",le="0.0002"} 1"#,
            r#"stillwatch_camera_processing_seconds_bucket{camera="gate",le="0.0016"} 2"#,
            r#"stillwatch_camera_processing_seconds_count{camera="gate"} 2"#,
            r#"stillwatch_camera_events_started_total{camera="gate"} 1"#,
            r#"stillwatch_camera_event_latency_seconds_bucket{camera="gate",le="0.004"} 1"#,
            "stillwatch_audit_records_written_total 2",
            r#"stillwatch_build_info{version=""#,
        ];
        let lines: Vec<&str> = text.lines().collect();
        for line in expected {
            assert!(
                lines.iter().any(|have| have.starts_with(line)),
                "missing {line:?} in:\n{text}"
            );
        }
        let states = lines
            .iter()
            .filter(|line| line.starts_with("stillwatch_camera_state{"))
            .count();
        assert_eq!(states, STATES.len());
    }

    #[test]
    fn a_removed_camera_leaves_no_series() {
        let metrics = Metrics::new();
        let (gate, yard) = (
            CameraId::new("gate").unwrap(),
            CameraId::new("yard").unwrap(),
        );
        metrics.camera(&gate).event_started();
        let stale = metrics.camera(&yard);
        metrics.remove_camera(&yard);
        stale.event_started();
        let text = metrics
            .encode(vec![status("gate", CameraState::Connecting, None)])
            .unwrap();
        assert!(text.contains(r#"camera="gate""#), "{text}");
        assert!(!text.contains("yard"), "{text}");
        assert!(!text.contains("last_frame"), "no frame yet: {text}");
    }
}
