#!/usr/bin/env python3
"""Side-by-side comparison of Stillwatch's motion detector with classical peers on CDnet footage.

Runs, on the same CDnet 2014 sequences and scored by the same rules:
  - ours:      `stillwatch bench --json` (the production pipeline; its own one-core timing of the
               motion stage);
  - MOG2, KNN: OpenCV's background subtractors (opencv-python-headless), default parameters;
  - SuBSENSE, PAWCS, ViBe: BGSLibrary's implementations through pybgs, default parameters.
Each peer runs single-threaded (cv2.setNumThreads(1), OMP_NUM_THREADS=1, pinned to one CPU) on
the dataset's own colour frames, and only its per-frame `apply` call is timed.

Scoring follows CDnet's comparator (see shared/data/README.md): only frames inside
temporalROI.txt; label 255 is motion, 0 and 50 are background, 85 and 170 are skipped; counts
are summed over the sequence, then F = 2TP / (2TP + FP + FN). Frame level: a frame whose ground
truth has any 255 pixel has motion; a peer "says motion" when its mask has at least
--min-blob-pixels foreground pixels (ours: its own blob rule, the same 16-pixel default).

Results are cached per (method, sequence, frame limit) as JSON under --results-dir, so the slow
peers (SuBSENSE, PAWCS: a few frames/s) can run in the background, one sequence at a time, and
the table can be printed later from the cache (--reuse).

Install the peers first: scripts/compare/install.sh. Then, from the repository root:
  cargo build --release -p stillwatch
  target/compare-venv/bin/python scripts/compare/compare.py                 # everything
  target/compare-venv/bin/python scripts/compare/compare.py --max-scored 200 # quick subset
  target/compare-venv/bin/python scripts/compare/compare.py --methods PAWCS --sequences traffic
  target/compare-venv/bin/python scripts/compare/compare.py --reuse --table-only
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Single-threaded before numpy/OpenCV load their thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cdnet2014"
SEQUENCES = ["highway", "office", "traffic"]
PEERS = ["MOG2", "KNN", "SuBSENSE", "PAWCS", "ViBe"]
METHODS = ["ours"] + PEERS


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the CDnet sequences")
    p.add_argument("--sequences", nargs="+", default=SEQUENCES)
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    p.add_argument(
        "--max-scored",
        type=int,
        default=0,
        help="stop each peer after this many scored frames (0: the whole sequence); the warm-up "
        "frames before temporalROI always run. Ours always runs the whole sequence.",
    )
    p.add_argument("--min-blob-pixels", type=int, default=16, help="frame-level rule for the peers")
    p.add_argument("--stillwatch", type=Path, default=ROOT / "target" / "release" / "stillwatch")
    p.add_argument("--config", type=Path, help="stillwatch config file for ours")
    p.add_argument("--results-dir", type=Path, default=ROOT / "target" / "compare-results")
    p.add_argument("--reuse", action="store_true", help="use cached results where present")
    p.add_argument("--table-only", action="store_true", help="run nothing; print the cached results")
    p.add_argument("--json", type=Path, help="also write the table's data here")
    return p.parse_args()


class Sequence:
    """A CDnet sequence: frame paths, temporal ROI, ground-truth paths."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.name = folder.name
        self.inputs = sorted((folder / "input").glob("in*.jpg"))
        if not self.inputs:
            sys.exit(f"{folder}: no input/in*.jpg frames")
        start, end = (int(v) for v in (folder / "temporalROI.txt").read_text().split()[:2])
        self.start, self.end = start, end

    def number(self, path: Path) -> int:
        return int(path.stem[2:])

    def labels(self, number: int):
        import cv2

        path = self.folder / "groundtruth" / f"gt{number:06d}.png"
        labels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if labels is None:
            sys.exit(f"{path}: cannot read ground truth")
        return labels


class Tally:
    """CDnet counts over a sequence, pixel and frame level."""

    def __init__(self):
        self.pixel = np.zeros(4, dtype=np.int64)  # tp fp fn tn
        self.frame = np.zeros(4, dtype=np.int64)
        self.frames = 0

    def add(self, labels, mask, says_motion):
        if mask.shape != labels.shape:
            import cv2

            mask = cv2.resize(mask, (labels.shape[1], labels.shape[0]), interpolation=cv2.INTER_NEAREST)
        motion = mask == 255
        positive = labels == 255
        negative = (labels == 0) | (labels == 50)
        self.pixel += [
            np.count_nonzero(motion & positive),
            np.count_nonzero(motion & negative),
            np.count_nonzero(~motion & positive),
            np.count_nonzero(~motion & negative),
        ]
        self.frames += 1
        if np.count_nonzero(positive | negative):
            truth = bool(positive.any())
            self.frame += [truth and says_motion, says_motion and not truth, truth and not says_motion, not truth and not says_motion]

    @staticmethod
    def f_measure(counts):
        tp, fp, fn, _ = (int(c) for c in counts)
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def make_peer(name):
    import cv2

    if name == "MOG2":
        return cv2.createBackgroundSubtractorMOG2()
    if name == "KNN":
        return cv2.createBackgroundSubtractorKNN()
    import pybgs

    return getattr(pybgs, name)()


def run_peer(name, seq: Sequence, max_scored, min_blob_pixels):
    import cv2

    cv2.setNumThreads(1)
    # BGSLibrary reads and writes ./config/<Algorithm>.xml: keep that out of the tree.
    workdir = tempfile.mkdtemp(prefix="compare-")
    (Path(workdir) / "config").mkdir()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        algorithm = make_peer(name)
        tally = Tally()
        seconds = 0.0
        frames = 0
        for path in seq.inputs:
            number = seq.number(path)
            if number > seq.end or (max_scored and number >= seq.start + max_scored):
                break
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            started = time.perf_counter()
            mask = algorithm.apply(frame)
            seconds += time.perf_counter() - started
            frames += 1
            if number >= seq.start:
                mask = np.where(mask >= 128, 255, 0).astype(np.uint8)  # MOG2/KNN mark shadows 127
                tally.add(seq.labels(number), mask, int(np.count_nonzero(mask)) >= min_blob_pixels)
    finally:
        os.chdir(cwd)
    return {
        "frames": frames,
        "frames_scored": tally.frames,
        "pixel_f": Tally.f_measure(tally.pixel),
        "frame_f": Tally.f_measure(tally.frame),
        "pixel_counts": [int(c) for c in tally.pixel],
        "frame_counts": [int(c) for c in tally.frame],
        "fps": frames / seconds if seconds else 0.0,
    }


def run_ours(args, seq: Sequence):
    if not args.stillwatch.exists():
        sys.exit(f"{args.stillwatch}: build it first (cargo build --release -p stillwatch)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        command = [str(args.stillwatch), "bench", str(seq.folder), "--json", str(out)]
        if args.config:
            command += ["--config", str(args.config)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        report = json.loads(out.read_text())
    truth = report["ground_truth"]
    counts = lambda scores: [scores["counts"][k] for k in ("true_positives", "false_positives", "false_negatives", "true_negatives")]  # noqa: E731
    return {
        "frames": report["frames"],
        "frames_scored": truth["frames_scored"],
        "pixel_f": truth["pixel"]["metrics"]["f_measure"] or 0.0,
        "frame_f": truth["frame_level"]["metrics"]["f_measure"] or 0.0,
        "pixel_counts": counts(truth["pixel"]),
        "frame_counts": counts(truth["frame_level"]),
        "fps": report["timing"]["analysis_fps"],
        "analysis_size": f'{report["analysis_width"]}x{report["analysis_height"]}',
    }


def cache_path(args, method, seq_name):
    limit = "all" if method == "ours" or not args.max_scored else f"first{args.max_scored}"
    return args.results_dir / f"{method}-{seq_name}-{limit}.json"


def main():
    args = parse_args()
    # One core for everything this process runs (the peers' timed calls included).
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    args.results_dir.mkdir(parents=True, exist_ok=True)
    sequences = [Sequence(args.data / name) for name in args.sequences]
    results = {}
    for seq in sequences:
        for method in args.methods:
            cached = cache_path(args, method, seq.name)
            if (args.reuse or args.table_only) and cached.exists():
                results[(method, seq.name)] = json.loads(cached.read_text())
                continue
            if args.table_only:
                continue
            print(f"running {method} on {seq.name} ...", file=sys.stderr, flush=True)
            if method == "ours":
                result = run_ours(args, seq)
            else:
                result = run_peer(method, seq, args.max_scored, args.min_blob_pixels)
            cached.write_text(json.dumps(result, indent=1))
            results[(method, seq.name)] = result
            print(f"  {method} {seq.name}: F {result['pixel_f']:.4f}, frame F {result['frame_f']:.4f}, {result['fps']:.1f} frames/s", file=sys.stderr, flush=True)
    print_table(args, sequences, results)
    if args.json:
        args.json.write_text(json.dumps({f"{m}/{s}": r for (m, s), r in results.items()}, indent=1))


def print_table(args, sequences, results):
    names = [seq.name for seq in sequences]
    header = f"{'method':<10}" + "".join(f"{n + ' F':>12}{'fps':>8}" for n in names) + f"{'mean F':>10}{'mean fps':>10}{'frame F (per seq)':>24}"
    print(header)
    print("-" * len(header))
    for method in args.methods:
        row = [results.get((method, n)) for n in names]
        if not any(row):
            continue
        cells = ""
        for r in row:
            cells += f"{r['pixel_f']:>12.4f}{r['fps']:>8.1f}" if r else f"{'-':>12}{'-':>8}"
        done = [r for r in row if r]
        mean = f"{np.mean([r['pixel_f'] for r in done]):>10.4f}{np.mean([r['fps'] for r in done]):>10.1f}" if len(done) == len(row) else f"{'-':>10}{'-':>10}"
        frame = " ".join(f"{r['frame_f']:.3f}" if r else "-" for r in row)
        partial = any(r and r["frames_scored"] < (seq.end - seq.start + 1) for r, seq in zip(row, sequences))
        print(f"{method:<10}{cells}{mean}{frame:>24}" + ("  (subset of scored frames)" if partial else ""))


if __name__ == "__main__":
    main()
