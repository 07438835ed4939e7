//! The hash-pinned manifest of the graphs (`models/manifest.json`) and the checks made before
//! a graph is run.
//!
//! Owns: finding the models folder, reading the manifest (schema `stillwatch.models/1`),
//! reading each graph and comparing its SHA-256 with the manifest's (a mismatch refuses to
//! start), comparing a session's inputs and outputs with the manifest's, and the
//! [`ModelInfo`] records the service writes to its audit log.
//! Does not own: creating sessions (see `engine`) or generating the graphs
//! (`models/generate.py`).
//!
//! The bytes that were hashed are the bytes handed to ONNX Runtime: a file changed after the
//! check is never run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ort::value::{Outlet, TensorElementType, ValueType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::OnnxError;
use crate::runtime::SearchRoots;

/// The manifest's `schema` value this build reads.
pub const MANIFEST_SCHEMA: &str = "stillwatch.models/1";

const MANIFEST_FILE: &str = "manifest.json";

/// A graph that passed the hash check: what the audit log records about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// The manifest's name for it (`classify`, `update`).
    pub name: String,
    /// The file that was read.
    pub path: PathBuf,
    /// Its SHA-256, lowercase hex (equal to the manifest's).
    pub sha256: String,
    /// The ONNX opset it declares.
    pub opset: u32,
    /// The ONNX IR version it declares.
    pub ir_version: u32,
}

/// A verified graph and the interface its manifest entry promises.
#[derive(Debug)]
pub(crate) struct VerifiedModel {
    pub info: ModelInfo,
    pub bytes: Vec<u8>,
    entry: RawModel,
}

/// `manifest.json` as `models/generate.py` writes it. Fields this build does not read (the
/// generator's command and `onnx` version) are ignored: the hashes are what is enforced.
#[derive(Debug, Deserialize)]
struct RawManifest {
    schema: String,
    models: Vec<RawModel>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawModel {
    name: String,
    file: String,
    sha256: String,
    opset: u32,
    ir_version: u32,
    inputs: Vec<RawTensor>,
    outputs: Vec<RawTensor>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawTensor {
    name: String,
    #[serde(rename = "type")]
    element_type: String,
    /// Dimension names (`"B"`) or sizes; compared by rank only.
    shape: Vec<serde_json::Value>,
}

/// The models folder: `explicit` when given (it must hold `manifest.json`), else `models/`
/// under the current directory, then under the nearest folder above it, then above the
/// executable, holding `models/manifest.json`.
pub fn locate_models_dir(explicit: Option<&Path>) -> Result<PathBuf, OnnxError> {
    let (candidates, searched_above) = match explicit {
        Some(dir) => (vec![dir.to_path_buf()], None),
        None => {
            let found = SearchRoots::find("models/manifest.json");
            let dirs = found.roots.iter().map(|root| root.join("models")).collect();
            (dirs, found.unmarked_executable_dir)
        }
    };
    candidates
        .iter()
        .find(|dir| dir.join(MANIFEST_FILE).is_file())
        .cloned()
        .ok_or_else(|| OnnxError::ModelsNotFound {
            looked_at: candidates.iter().map(|d| d.join(MANIFEST_FILE)).collect(),
            searched_above,
        })
}

/// The detector's graphs in the models folder (`explicit`, else found as
/// [`locate_models_dir`] finds it), each read and checked against the manifest's SHA-256,
/// without loading ONNX Runtime: what `stillwatch privacy-report` shows an auditor.
pub fn verify_models(explicit: Option<&Path>) -> Result<Vec<ModelInfo>, OnnxError> {
    let manifest = Manifest::read(&locate_models_dir(explicit)?)?;
    [crate::graphs::CLASSIFY.name, crate::graphs::UPDATE.name]
        .into_iter()
        .map(|name| manifest.verify(name).map(|model| model.info))
        .collect()
}

/// A manifest read from a models folder.
#[derive(Debug)]
pub(crate) struct Manifest {
    path: PathBuf,
    dir: PathBuf,
    models: Vec<RawModel>,
}

impl Manifest {
    /// Reads and checks `dir/manifest.json`.
    pub(crate) fn read(dir: &Path) -> Result<Self, OnnxError> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).map_err(|source| OnnxError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: RawManifest =
            serde_json::from_str(&text).map_err(|source| OnnxError::ManifestSyntax {
                path: path.clone(),
                source,
            })?;
        if manifest.schema != MANIFEST_SCHEMA {
            return Err(OnnxError::Manifest {
                path,
                detail: format!(
                    "schema is {:?}, this build reads {MANIFEST_SCHEMA:?}",
                    manifest.schema
                ),
            });
        }
        Ok(Self {
            path,
            dir: dir.to_path_buf(),
            models: manifest.models,
        })
    }

    /// Reads the graph the manifest names `name` and checks it against its pinned SHA-256.
    pub(crate) fn verify(&self, name: &str) -> Result<VerifiedModel, OnnxError> {
        let entry =
            self.models
                .iter()
                .find(|m| m.name == name)
                .ok_or_else(|| OnnxError::Manifest {
                    path: self.path.clone(),
                    detail: format!("no model named {name:?}"),
                })?;
        verify(&self.path, &self.dir, name, entry.clone())
    }
}

fn verify(
    manifest_path: &Path,
    dir: &Path,
    name: &str,
    entry: RawModel,
) -> Result<VerifiedModel, OnnxError> {
    if Path::new(&entry.file).components().count() != 1 {
        return Err(OnnxError::Manifest {
            path: manifest_path.to_path_buf(),
            detail: format!(
                "model {name:?}: file {:?} must be a plain file name in the models folder",
                entry.file
            ),
        });
    }
    let path = dir.join(&entry.file);
    let bytes = fs::read(&path).map_err(|source| OnnxError::Read {
        path: path.clone(),
        source,
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(&entry.sha256) {
        return Err(OnnxError::ModelHash {
            path,
            manifest: manifest_path.to_path_buf(),
            expected: entry.sha256,
            actual,
        });
    }
    Ok(VerifiedModel {
        info: ModelInfo {
            name: name.to_string(),
            path,
            sha256: actual,
            opset: entry.opset,
            ir_version: entry.ir_version,
        },
        bytes,
        entry,
    })
}

impl VerifiedModel {
    /// Checks a session's inputs and outputs against the manifest: the same names, element
    /// types and ranks, in any order.
    pub(crate) fn check_interface(
        &self,
        inputs: &[Outlet],
        outputs: &[Outlet],
    ) -> Result<(), OnnxError> {
        let mismatch = |detail: String| OnnxError::ModelInterface {
            path: self.info.path.clone(),
            detail,
        };
        for (kind, promised, actual) in [
            ("input", &self.entry.inputs, inputs),
            ("output", &self.entry.outputs, outputs),
        ] {
            let in_graph: BTreeMap<&str, (Option<&'static str>, usize)> = actual
                .iter()
                .map(|o| (o.name(), describe(o.dtype())))
                .collect();
            let in_manifest: BTreeMap<&str, (&str, usize)> = promised
                .iter()
                .map(|t| (t.name.as_str(), (onnx_type(&t.element_type), t.shape.len())))
                .collect();
            let graph_names: Vec<&str> = in_graph.keys().copied().collect();
            let manifest_names: Vec<&str> = in_manifest.keys().copied().collect();
            if graph_names != manifest_names {
                return Err(mismatch(format!(
                    "the graph's {kind}s are {graph_names:?} but the manifest lists {manifest_names:?}"
                )));
            }
            for (name, (graph_type, graph_rank)) in in_graph {
                let (manifest_type, manifest_rank) = in_manifest[name];
                if graph_type != Some(manifest_type) || graph_rank != manifest_rank {
                    return Err(mismatch(format!(
                        "{kind} `{name}` is {} of rank {graph_rank} in the graph but {manifest_type} of rank {manifest_rank} in the manifest",
                        graph_type.unwrap_or("not a plain tensor")
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `tensor(uint8)` or `uint8` → `uint8`.
fn onnx_type(text: &str) -> &str {
    text.strip_prefix("tensor(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(text)
}

/// The ONNX name of a tensor's element type and its rank.
fn describe(value: &ValueType) -> (Option<&'static str>, usize) {
    match value {
        ValueType::Tensor { ty, shape, .. } => (onnx_type_name(*ty), shape.len()),
        _ => (None, 0),
    }
}

/// ONNX's name for the element types the graphs may use.
pub(crate) fn onnx_type_name(ty: TensorElementType) -> Option<&'static str> {
    Some(match ty {
        TensorElementType::Bool => "bool",
        TensorElementType::Uint8 => "uint8",
        TensorElementType::Int8 => "int8",
        TensorElementType::Uint16 => "uint16",
        TensorElementType::Int16 => "int16",
        TensorElementType::Int32 => "int32",
        TensorElementType::Int64 => "int64",
        TensorElementType::Float32 => "float",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_models(dir: &Path, manifest: &str, files: &[(&str, &[u8])]) {
        fs::write(dir.join(MANIFEST_FILE), manifest).unwrap();
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    fn manifest(schema: &str, file: &str, sha256: &str) -> String {
        format!(
            r#"{{"schema": "{schema}", "models": [{{"name": "classify", "file": "{file}",
            "sha256": "{sha256}", "opset": 18, "ir_version": 9,
            "inputs": [{{"name": "luma", "type": "uint8", "shape": ["B", "H", "W"]}}],
            "outputs": [{{"name": "raw_mask", "type": "uint8", "shape": ["B", "H", "W"]}}]}}]}}"#
        )
    }

    /// SHA-256 of the three bytes "abc" (FIPS 180-2's example).
    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn a_graph_matching_its_pin_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        write_models(
            dir.path(),
            &manifest(MANIFEST_SCHEMA, "c.onnx", ABC_SHA256),
            &[("c.onnx", b"abc")],
        );
        let model = Manifest::read(dir.path())
            .unwrap()
            .verify("classify")
            .unwrap();
        assert_eq!(
            model.info,
            ModelInfo {
                name: "classify".into(),
                path: dir.path().join("c.onnx"),
                sha256: ABC_SHA256.into(),
                opset: 18,
                ir_version: 9,
            }
        );
        assert_eq!(model.bytes, b"abc");
    }

    #[test]
    fn manifest_problems_are_refused_with_the_reason() {
        // (schema, file, pinned hash, file bytes, expected words in the error)
        let cases: [(&str, &str, &str, &[u8], &str); 4] = [
            (
                MANIFEST_SCHEMA,
                "c.onnx",
                ABC_SHA256,
                b"abd",
                "refusing to run",
            ),
            (
                "stillwatch.models/2",
                "c.onnx",
                ABC_SHA256,
                b"abc",
                "schema",
            ),
            (
                MANIFEST_SCHEMA,
                "../c.onnx",
                ABC_SHA256,
                b"abc",
                "plain file name",
            ),
            (
                MANIFEST_SCHEMA,
                "missing.onnx",
                ABC_SHA256,
                b"abc",
                "missing.onnx",
            ),
        ];
        for (schema, file, pin, bytes, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            write_models(
                dir.path(),
                &manifest(schema, file, pin),
                &[("c.onnx", bytes)],
            );
            let error = Manifest::read(dir.path())
                .and_then(|m| m.verify("classify"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{file}: {error}");
        }
    }

    #[test]
    fn a_hash_mismatch_names_file_and_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        write_models(
            dir.path(),
            &manifest(MANIFEST_SCHEMA, "c.onnx", ABC_SHA256),
            &[("c.onnx", b"abd")],
        );
        let error = Manifest::read(dir.path())
            .unwrap()
            .verify("classify")
            .unwrap_err();
        let OnnxError::ModelHash {
            path,
            expected,
            actual,
            ..
        } = &error
        else {
            panic!("not a hash error: {error}");
        };
        assert_eq!(path, &dir.path().join("c.onnx"));
        assert_eq!(expected, ABC_SHA256);
        assert_eq!(actual, &hex::encode(Sha256::digest(b"abd")));
    }

    #[test]
    fn a_model_missing_from_the_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_models(
            dir.path(),
            &manifest(MANIFEST_SCHEMA, "c.onnx", ABC_SHA256),
            &[("c.onnx", b"abc")],
        );
        let error = Manifest::read(dir.path())
            .unwrap()
            .verify("update")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no model named \"update\""), "{error}");
    }

    #[test]
    fn an_explicit_models_dir_without_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = locate_models_dir(Some(dir.path())).unwrap_err();
        assert!(
            matches!(&error, OnnxError::ModelsNotFound { looked_at, searched_above: None } if looked_at == &[dir.path().join(MANIFEST_FILE)]),
            "{error}"
        );
    }

    #[test]
    fn type_names_are_read_both_ways() {
        for (text, expected) in [("uint8", "uint8"), ("tensor(int32)", "int32")] {
            assert_eq!(onnx_type(text), expected);
        }
    }
}
