#!/usr/bin/env bash
# Installs the peers of the comparison harness (scripts/compare/compare.py): a Python venv with
# OpenCV (MOG2, KNN) and BGSLibrary's Python wrapper pybgs (SuBSENSE, PAWCS, ViBe).
#
# Not part of the main test command. pybgs builds from source against the system OpenCV, which
# takes several minutes; it needs apt's cmake, libopencv-dev and build-essential, installed here
# when missing (as root).
#
# Usage: scripts/compare/install.sh [VENV]   (default: target/compare-venv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-$ROOT/target/compare-venv}"
# Pinned versions: results in docs/design/motion.md were measured with these.
PINS=(numpy==2.2.6 opencv-python-headless==4.10.0.84 pybgs==3.3.1)
APT_PACKAGES=(cmake libopencv-dev build-essential python3-venv python3-dev)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing apt packages: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The system Python: its headers come from python3-dev, which pybgs's build needs.
if [[ ! -x "$VENV/bin/python" ]]; then
    /usr/bin/python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip setuptools wheel
# One compile job: the machine is shared; pybgs's CMake build honours this.
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-1}" MAKEFLAGS="${MAKEFLAGS:--j1}" \
    nice "$VENV/bin/python" -m pip install "${PINS[@]}"
"$VENV/bin/python" - <<'PY'
import cv2, pybgs, numpy
print("ok: numpy", numpy.__version__, "opencv", cv2.__version__, "pybgs", getattr(pybgs, "__version__", "?"))
for name in ("SuBSENSE", "PAWCS", "ViBe"):
    assert hasattr(pybgs, name), name
PY
echo "venv ready: $VENV"
