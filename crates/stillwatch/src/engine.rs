//! The detector a command runs, on the engine its config (or `--backend`) names.
//!
//! Owns: building a [`Detector`] natively or on a freshly started ONNX engine, and keeping
//! that engine alive while the detector is used. Does not own: the engine (`sw_onnx`) or
//! mapping `[onnx]` onto its options (`sw_service::onnx_options`).

use sw_config::{Config, DetectorBackend};
use sw_motion::Detector;

/// What the detector's per-pixel step runs on; dropping it stops the engine's threads.
#[derive(Debug)]
pub struct Engine {
    #[cfg(feature = "onnx")]
    _onnx: Option<sw_onnx::OnnxEngine>,
    /// `native`, or `onnx` with the provider and the models' hashes.
    pub description: String,
}

/// A detector for `width x height` frames whose per-pixel step runs on `backend`.
pub fn detector(
    config: &Config,
    backend: DetectorBackend,
    width: u32,
    height: u32,
) -> anyhow::Result<(Detector, Engine)> {
    let (width, height) = (width as usize, height as usize);
    match backend {
        DetectorBackend::Native => Ok((
            Detector::new(width, height, &config.detector),
            Engine {
                #[cfg(feature = "onnx")]
                _onnx: None,
                description: "native".to_owned(),
            },
        )),
        #[cfg(feature = "onnx")]
        DetectorBackend::Onnx => {
            let engine = sw_onnx::OnnxEngine::start(&sw_service::onnx_options(&config.onnx))?;
            let description = engine.to_string();
            let detector =
                Detector::with_backend(width, height, &config.detector, Box::new(engine.backend()));
            Ok((
                detector,
                Engine {
                    _onnx: Some(engine),
                    description,
                },
            ))
        }
        #[cfg(not(feature = "onnx"))]
        DetectorBackend::Onnx => anyhow::bail!(
            "detector.backend = \"onnx\", but this build has no ONNX support (build stillwatch \
             with the `onnx` feature)"
        ),
    }
}
