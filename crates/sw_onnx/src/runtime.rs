//! Finding and loading the ONNX Runtime library, once per process.
//!
//! Owns: where the shared library is looked for (an explicit path, `ORT_DYLIB_PATH`, then
//! `.ort/onnxruntime/capi/libonnxruntime.so*` under the current directory and under the
//! workspace that holds it or the executable), the version check before loading (ort refuses a
//! runtime older than the API it was built for), and the process's one ort environment.
//! Does not own: sessions, execution providers or models (see `engine` and `manifest`).
//!
//! ort allows one environment per process and one loaded library: the first successful
//! [`environment`] call fixes both; a later call naming another library is an error rather
//! than silently running the first one.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;

use crate::OnnxError;

/// The ONNX Runtime release the workspace installs and tests against.
pub const ORT_VERSION: &str = "1.31.1";

/// How to install the runtime library where it is looked for (from the workspace root).
pub const INSTALL_HINT: &str = "run `cargo xtask install` in the workspace, or `python3 -m pip install --no-deps --target .ort onnxruntime==1.31.1` in the directory the service runs from (or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.31 or newer)";

/// Folder under a root that holds the wheel's library.
const CAPI_DIR: &str = ".ort/onnxruntime/capi";
/// File-name prefix of the runtime library (not `libonnxruntime_providers_*.so`).
const LIBRARY_PREFIX: &str = "libonnxruntime.so";

/// The library loaded in this process and its environment.
#[derive(Debug)]
struct Loaded {
    path: PathBuf,
    environment: Environment,
}

/// Fallible one-time initialisation: a failed attempt (a bad path) leaves the next one free.
static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

/// Which library to load: `explicit` when given, else `ORT_DYLIB_PATH`, else the newest
/// `libonnxruntime.so*` in `.ort/onnxruntime/capi/` under the current directory, then under
/// the nearest folder above it, then above the executable, holding `.ort/`.
pub fn locate_library(explicit: Option<&Path>) -> Result<PathBuf, OnnxError> {
    if let Some(path) = explicit {
        return existing(path);
    }
    if let Some(path) = env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return existing(Path::new(&path));
    }
    let roots = SearchRoots::find(".ort");
    let mut looked_at = Vec::new();
    for root in &roots.roots {
        let dir = root.join(CAPI_DIR);
        if let Some(found) = newest_library(&dir) {
            return Ok(found);
        }
        looked_at.push(dir.join(format!("{LIBRARY_PREFIX}*")));
    }
    Err(OnnxError::RuntimeNotFound {
        looked_at,
        searched_above: roots.unmarked_executable_dir,
    })
}

/// `path` itself, when it exists.
fn existing(path: &Path) -> Result<PathBuf, OnnxError> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(OnnxError::RuntimeNotFound {
            looked_at: vec![path.to_path_buf()],
            searched_above: None,
        })
    }
}

/// Where a default search looks: the current directory, then the nearest folder above it that
/// holds a marker (the workspace root when run from one of its crates, as tests are), then the
/// nearest ancestor of the executable's folder that holds it (the workspace root when run from
/// its `target/`).
#[derive(Debug)]
pub(crate) struct SearchRoots {
    pub roots: Vec<PathBuf>,
    /// The executable's folder when no folder above it holds the marker.
    pub unmarked_executable_dir: Option<PathBuf>,
}

impl SearchRoots {
    pub(crate) fn find(marker: &str) -> Self {
        let mut roots = Vec::new();
        if let Ok(cwd) = env::current_dir() {
            let above = cwd
                .ancestors()
                .skip(1)
                .find(|dir| dir.join(marker).exists())
                .map(Path::to_path_buf);
            roots.push(cwd);
            roots.extend(above);
        }
        let exe_dir = env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf));
        let marked = exe_dir.as_deref().and_then(|dir| {
            dir.ancestors()
                .find(|dir| dir.join(marker).exists())
                .map(Path::to_path_buf)
        });
        let unmarked_executable_dir = if marked.is_none() { exe_dir } else { None };
        if let Some(root) = marked
            && !roots.contains(&root)
        {
            roots.push(root);
        }
        Self {
            roots,
            unmarked_executable_dir,
        }
    }
}

/// The `libonnxruntime.so*` in `dir` with the highest version in its name.
fn newest_library(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(LIBRARY_PREFIX))
        })
        .map(|entry| entry.path())
        .max_by_key(|path| version_in_name(path))
}

/// The `(major, minor, patch)` in a name like `libonnxruntime.so.1.31.1`, if any.
fn version_in_name(path: &Path) -> Option<(u32, u32, u32)> {
    let name = path.file_name()?.to_str()?;
    let version = name.split_once(".so.")?.1;
    let mut parts = version.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor, patch))
}

/// Refuses a library whose name (or, for an unversioned link, whose target's name) says it
/// is older than ort's API; a library whose name carries no version is left to ort's own
/// check when loading.
fn check_version(path: &Path) -> Result<(), OnnxError> {
    let version = version_in_name(path).or_else(|| {
        fs::canonicalize(path)
            .ok()
            .and_then(|target| version_in_name(&target))
    });
    match version {
        Some((major, minor, patch)) if (major, minor) < (1, ort::MINOR_VERSION) => {
            Err(OnnxError::RuntimeTooOld {
                path: path.to_path_buf(),
                version: format!("{major}.{minor}.{patch}"),
            })
        }
        _ => Ok(()),
    }
}

/// The process's ort environment, loading the library at `path` on the first call.
pub(crate) fn environment(path: &Path) -> Result<Environment, OnnxError> {
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(loaded) = loaded.as_ref() {
        return if same_file(&loaded.path, path) {
            Ok(loaded.environment.clone())
        } else {
            Err(OnnxError::RuntimeAlreadyLoaded {
                loaded: loaded.path.clone(),
                requested: path.to_path_buf(),
            })
        };
    }
    check_version(path)?;
    let builder = ort::init_from(path).map_err(|error| match error {
        ort::LoadDynamicError::BadVersion { version_str, .. } => OnnxError::RuntimeTooOld {
            path: path.to_path_buf(),
            version: version_str,
        },
        other => OnnxError::RuntimeLoad {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })?;
    let environment = builder
        .with_name("stillwatch")
        .with_telemetry(false)
        .build()
        .map_err(|source| OnnxError::Ort {
            context: format!(
                "creating the ONNX Runtime environment from {}",
                path.display()
            ),
            source,
        })?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    *loaded = Some(Loaded {
        path: path.to_path_buf(),
        environment: environment.clone(),
    });
    Ok(environment)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_library_names() {
        let cases = [
            ("libonnxruntime.so.1.31.1", Some((1, 31, 1))),
            ("libonnxruntime.so.1.20.0", Some((1, 20, 0))),
            ("libonnxruntime.so.1.32", Some((1, 32, 0))),
            ("libonnxruntime.so", None),
            ("libonnxruntime.so.x", None),
            ("onnxruntime.dll", None),
        ];
        for (name, expected) in cases {
            assert_eq!(version_in_name(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn the_newest_library_in_a_folder_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "libonnxruntime.so.1.31.1",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime.so.1.9.0",
            "libonnxruntime_providers_shared.so",
            "_pybind_state.py",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(
            newest_library(dir.path()),
            Some(dir.path().join("libonnxruntime.so.1.32.0"))
        );
        assert_eq!(newest_library(&dir.path().join("absent")), None);
    }

    #[test]
    fn old_runtimes_are_refused_by_name() {
        let cases = [
            ("libonnxruntime.so.1.20.0", false),
            ("libonnxruntime.so.1.30.9", false),
            ("libonnxruntime.so.1.31.1", true),
            ("libonnxruntime.so.2.0.0", true),
            ("libonnxruntime.so", true),
        ];
        for (name, accepted) in cases {
            let result = check_version(Path::new(name));
            assert_eq!(result.is_ok(), accepted, "{name}: {result:?}");
        }
    }
}
