#!/usr/bin/env python3
"""Generates Stillwatch's detector graphs: models/classify.onnx, models/update.onnx and
models/manifest.json.

Owns: the ONNX statement of the detector's per-pixel work, exactly as
docs/design/onnx.md specifies it (classification with its clean-up box, and the model
update with propagation, ghost removal, flicker and counters), and the manifest that pins
the graphs by hash.
Does not own: running the graphs (sw_motion's ONNX path does), the random draws (Rust's
SplitMix64 stream, fed in as inputs), hole filling, blobs and the grid (Rust).

Usage:
    python3 models/generate.py           write the three files beside this script
    python3 models/generate.py --check   regenerate into a temporary folder and fail,
                                         naming each file, when the committed ones differ

Run it with the pinned packages of models/requirements.txt: the bytes of a graph depend on
the onnx version that wrote them. Exit status: 0 written or up to date, 1 out of date
(--check), 2 could not run (packages missing, bad arguments). Output is byte-identical on every run: no timestamps, no
paths, sorted JSON, protobuf serialised deterministically.

Every value is computed with integers (uint8 state widened to int32), except the clean-up
box sum, which is a float convolution of 0/1 values with an all-ones kernel: every partial
sum is a small integer, so the float result is exact.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as missing:
    print(
        f"models/generate.py: {missing}; it needs the packages of models/requirements.txt: "
        "`pip install --target .ort -r models/requirements.txt`, then run it with "
        "`PYTHONPATH=.ort python3 models/generate.py`",
        file=sys.stderr,
    )
    sys.exit(2)

OPSET = 18
# The IR version that goes with opset 18 (onnx 1.13): the oldest runtime that reads opset 18
# reads these files.
IR_VERSION = 8
MANIFEST_SCHEMA = "stillwatch.models/1"
GENERATOR_COMMAND = "python3 models/generate.py"
MODELS_DIR = Path(__file__).resolve().parent
FILES = ("classify.onnx", "update.onnx", "manifest.json")

U8 = TensorProto.UINT8
I32 = TensorProto.INT32
I64 = TensorProto.INT64
F32 = TensorProto.FLOAT
TYPE_NAMES = {U8: "uint8", I32: "int32", I64: "int64"}

# The neighbour directions of docs/design/onnx.md, index d -> (dx, dy).
DIRECTIONS = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))
DIRECTION_WORDS = (
    "above left", "above", "above right", "left", "right", "below left", "below", "below right",
)
INT64_MAX = np.iinfo(np.int64).max

PIXEL = ["B", "H", "W"]
SAMPLES = ["B", "H", "N", "W"]
CAMERA = ["B"]


class GraphBuilder:
    """Collects the inputs, constants and nodes of one graph. Every tensor name is unique, and
    a node is named after its (first) output, so Netron shows the same word for both."""

    def __init__(self) -> None:
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def _claim(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"tensor name {name!r} used twice")
        self._names.add(name)
        return name

    def input(self, name: str, elem_type: int, shape: list, doc: str) -> str:
        self.inputs.append(helper.make_tensor_value_info(self._claim(name), elem_type, shape, doc))
        return name

    def output(self, name: str, elem_type: int, shape: list, doc: str) -> None:
        if name not in self._names:
            raise ValueError(f"output {name!r} is computed by no node")
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape, doc))

    def const(self, name: str, value, dtype, doc: str) -> str:
        tensor = numpy_helper.from_array(np.array(value, dtype=dtype), name=self._claim(name))
        tensor.doc_string = doc
        self.initializers.append(tensor)
        return name

    def node(self, op_type: str, inputs: list[str], output: str, doc: str, **attrs) -> str:
        self.nodes.append(
            helper.make_node(
                op_type, inputs, [self._claim(output)], name=output, doc_string=doc, **attrs
            )
        )
        return output

    def model(self, graph_name: str, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, graph_name, self.inputs, self.outputs, self.initializers, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="stillwatch models/generate.py",
            producer_version=onnx.__version__,
            doc_string=doc,
        )
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        return model


class Common:
    """Constants both graphs use, and small helpers that are the same sequence of nodes
    wherever they appear."""

    def __init__(self, g: GraphBuilder) -> None:
        self.g = g
        self.axes_camera = g.const(
            "axes_1_2", [1, 2], np.int64, "Axes 1 and 2: a [B] parameter becomes [B,1,1]."
        )
        self.axis_sample = g.const(
            "axis_2", [2], np.int64, "Axis 2, the sample axis N of a [B,H,N,W] tensor."
        )
        self._scalars: dict[tuple[str, int], str] = {}

    def scalar(self, dtype, value: int) -> str:
        """A scalar constant, created on first use (an unused initializer is an auditor's
        question, and ONNX Runtime warns about it)."""
        kind = np.dtype(dtype).name
        key = (kind, value)
        if key not in self._scalars:
            label = f"minus_{-value}" if value < 0 else str(value)
            meaning = {(0, "uint8"): " (mask background)", (255, "uint8"): " (mask foreground)",
                       (-1, "int32"): " (no write)"}.get((value, kind), "")
            self._scalars[key] = self.g.const(
                f"{kind}_{label}", value, dtype, f"The {kind} value {value}{meaning}."
            )
        return self._scalars[key]

    @property
    def u8_0(self) -> str:
        return self.scalar(np.uint8, 0)

    @property
    def u8_255(self) -> str:
        return self.scalar(np.uint8, 255)

    @property
    def i32_0(self) -> str:
        return self.scalar(np.int32, 0)

    @property
    def i32_1(self) -> str:
        return self.scalar(np.int32, 1)

    @property
    def i32_255(self) -> str:
        return self.scalar(np.int32, 255)

    @property
    def i32_minus1(self) -> str:
        return self.scalar(np.int32, -1)

    def per_camera(self, name: str) -> str:
        """A [B] parameter as [B,1,1], so that it broadcasts over each camera's pixels."""
        return self.g.node(
            "Unsqueeze",
            [name, self.axes_camera],
            f"{name}_per_camera",
            f"{name} [B] reshaped to [B,1,1]: one value per camera, broadcast over its pixels.",
        )

    def as_int32(self, name: str, what: str) -> str:
        return self.g.node(
            "Cast", [name], f"{name}_int32", f"{what} widened to int32 for arithmetic.", to=I32
        )

    def sample_column(self, name: str, what: str) -> str:
        """A [B,H,W] tensor as [B,H,1,W], to broadcast against the N samples of each pixel."""
        return self.g.node(
            "Unsqueeze",
            [name, self.axis_sample],
            f"{name}_per_sample",
            f"{what} reshaped to [B,H,1,W] so that it lines up with every sample of its pixel.",
        )

    def count_matches(self, prefix: str, samples_i32: str, luma_col: str, radius_col: str,
                      what: str) -> str:
        """#{k : |samples[k] - luma| < radius} per pixel, as int32 [B,H,W]."""
        g = self.g
        diff = g.node(
            "Sub", [samples_i32, luma_col], f"{prefix}_difference",
            f"{what}: each sample minus the luma (int32, -255..255).",
        )
        distance = g.node(
            "Abs", [diff], f"{prefix}_distance", f"{what}: |sample - luma| for every sample."
        )
        close = g.node(
            "Less", [distance, radius_col], f"{prefix}_sample_matches",
            f"{what}: true where |sample - luma| < radius (strictly less).",
        )
        close_i32 = g.node(
            "Cast", [close], f"{prefix}_sample_matches_int32",
            f"{what}: each sample's match as 1 (matches) or 0.", to=I32,
        )
        return g.node(
            "ReduceSum", [close_i32, self.axis_sample], f"{prefix}_matches",
            f"{what}: the number of matching samples of each pixel (sum over N), [B,H,W].",
            keepdims=0,
        )

    def mask_bytes(self, condition: str, output: str, what: str) -> str:
        return self.g.node(
            "Where", [condition, self.u8_255, self.u8_0], output,
            f"{what} as a mask: 255 where true (foreground), 0 where false (background).",
        )

    def sample_indices(self, samples: str) -> tuple[str, str, str]:
        """The shape of the samples, N as an int32 scalar, and k = 0..N-1 as int32
        [1,1,N,1]."""
        g = self.g
        shape = g.node(
            "Shape", [samples], "samples_shape", "The shape [B,H,N,W] of the samples."
        )
        n_i32 = _dim_int32(g, shape, 2, "sample_count", "N, the number of samples per pixel")
        ks = g.node(
            "Range", [self.i32_0, n_i32, self.i32_1], "sample_index_list",
            "The sample indices 0, 1, ..., N-1.",
        )
        shape_k = g.const(
            "shape_1_1_N_1", [1, 1, -1, 1], np.int64, "Shape [1,1,N,1]: one value per sample."
        )
        k = g.node(
            "Reshape", [ks, shape_k], "sample_index",
            "The sample index k as [1,1,N,1], to compare with a pixel's chosen slot.",
        )
        return shape, n_i32, k

    def write_slot(self, samples: str, slot: str, value_col: str, k: str, output: str,
                   what: str) -> str:
        """samples[p, slot[p]] = value[p] where slot[p] >= 0 (slot -1: no write)."""
        g = self.g
        slot_col = self.sample_column(slot, f"{what}: the slot written")
        hit = g.node(
            "Equal", [slot_col, k], f"{output}_slot_hit",
            f"{what}: true at the one sample k equal to the slot written (none where the slot "
            "is -1, i.e. no write).",
        )
        return g.node(
            "Where", [hit, value_col, samples], output,
            f"{what}: the samples with that one sample replaced by the luma written.",
        )


def build_classify() -> onnx.ModelProto:
    g = GraphBuilder()
    c = Common(g)
    luma = g.input("luma", U8, PIXEL, "The frame (video-range GRAY8), [B,H,W].")
    samples = g.input(
        "samples", U8, SAMPLES, "The background model: sample k of pixel (x,y) at [b,y,k,x]."
    )
    radius = g.input("radius", U8, PIXEL, "Each pixel's own match radius (never 0 here).")
    min_radius = g.input("min_radius", U8, CAMERA, "Per camera: the frame's noise allowance.")
    min_matches = g.input(
        "min_matches", I32, CAMERA, "Per camera: ViBe's #min, the matches a background pixel needs."
    )
    cleanup_radius = g.input(
        "cleanup_radius", I64, [1],
        "Batch-wide: the clean-up box is (2r+1)x(2r+1) pixels (0: one pixel, identity).",
    )
    cleanup_min_votes = g.input(
        "cleanup_min_votes", I32, CAMERA, "Per camera: foreground votes needed in the box."
    )

    # Classification.
    luma_col = c.sample_column(c.as_int32(luma, "The luma"), "The luma")
    samples_i32 = c.as_int32(samples, "The samples")
    radius_i32 = c.as_int32(radius, "Each pixel's radius")
    floor = c.per_camera(c.as_int32(min_radius, "The noise allowance"))
    effective_radius = g.node(
        "Max", [radius_i32, floor], "effective_radius",
        "r = max(radius[p], min_radius[b]): the pixel's radius, at least the noise allowance.",
    )
    radius_col = c.sample_column(effective_radius, "The effective radius r")
    matches = c.count_matches(
        "classify", samples_i32, luma_col, radius_col, "Classification"
    )
    foreground = g.node(
        "Less", [matches, c.per_camera(min_matches)], "is_foreground",
        "raw[p]: true (foreground) where the pixel has fewer than min_matches matching samples.",
    )
    c.mask_bytes(foreground, "raw_mask", "The raw classification")

    # Clean-up: count raw foreground pixels in the (2r+1)x(2r+1) box around each pixel.
    foreground_f = g.node(
        "Cast", [foreground], "foreground_float",
        "raw[p] as 1.0 (foreground) or 0.0, for the box sum (sums of 0/1 are exact).", to=F32,
    )
    axis_1 = g.const("axis_1", [1], np.int64, "Axis 1: the channel axis of an NCHW image.")
    image = g.node(
        "Unsqueeze", [foreground_f, axis_1], "foreground_image",
        "The 0/1 foreground as a one-channel image [B,1,H,W].",
    )
    zeros_2 = g.const("int64_0_0", [0, 0], np.int64, "Two zeros: no padding on axes B and C.")
    pads = g.node(
        "Concat", [zeros_2, cleanup_radius, cleanup_radius, zeros_2, cleanup_radius,
                   cleanup_radius],
        "box_pads",
        "Pads [0,0,r,r,0,0,r,r]: r rows and columns on each side of the image.", axis=0,
    )
    padded = g.node(
        "Pad", [image, pads], "foreground_padded",
        "The foreground image with r pixels of 0 on every side: pixels outside the frame "
        "count as background.", mode="constant",
    )
    two = g.const("int64_2", [2], np.int64, "The int64 value 2.")
    one_i64 = g.const("int64_1", [1], np.int64, "The int64 value 1.")
    doubled = g.node("Mul", [cleanup_radius, two], "box_radius_doubled", "2r.")
    side = g.node("Add", [doubled, one_i64], "box_side", "The box side 2r+1.")
    ones_2 = g.const("int64_1_1", [1, 1], np.int64, "Two ones: one output and one input channel.")
    kernel_shape = g.node(
        "Concat", [ones_2, side, side], "box_kernel_shape", "The kernel shape [1,1,2r+1,2r+1].",
        axis=0,
    )
    kernel = g.node(
        "ConstantOfShape", [kernel_shape], "box_kernel",
        "An all-ones (2r+1)x(2r+1) kernel: the convolution sums the box.",
        value=numpy_helper.from_array(np.array([1.0], dtype=np.float32), name="one"),
    )
    votes_image = g.node(
        "Conv", [padded, kernel], "votes_image",
        "votes[p]: the number of raw-foreground pixels in the (2r+1)x(2r+1) box around p "
        "(a sum of 0/1 values, exact in float), [B,1,H,W].",
    )
    votes_f = g.node(
        "Squeeze", [votes_image, axis_1], "votes_float", "The votes as [B,H,W]."
    )
    votes = g.node(
        "Cast", [votes_f], "votes", "The votes as int32 (whole numbers, converted exactly).",
        to=I32,
    )
    clean = g.node(
        "GreaterOrEqual", [votes, c.per_camera(cleanup_min_votes)], "is_clean_foreground",
        "clean[p]: true where votes[p] >= cleanup_min_votes.",
    )
    c.mask_bytes(clean, "clean_mask", "The cleaned classification")

    g.output("raw_mask", U8, PIXEL, "255 foreground, 0 background: the raw classification.")
    g.output("clean_mask", U8, PIXEL, "255 foreground, 0 background: after the clean-up box.")
    return g.model(
        "stillwatch_classify",
        "Stillwatch classify (docs/design/onnx.md): ViBe-style sample consensus per pixel. "
        "r = max(radius[p], min_radius[b]); matches = #{k : |samples[p,k] - luma[p]| < r}; "
        "raw = 255 where matches < min_matches[b], else 0. Then clean = 255 where the number of "
        "raw-foreground pixels in the (2r+1)x(2r+1) box around p (r = cleanup_radius, pixels "
        "outside the frame are background) is >= cleanup_min_votes[b], else 0. Integer "
        "semantics; the box sum is a float convolution of 0/1 values, which is exact.",
    )


def build_update() -> onnx.ModelProto:
    g = GraphBuilder()
    c = Common(g)
    luma = g.input("luma", U8, PIXEL, "The frame (video-range GRAY8), [B,H,W].")
    raw_mask = g.input("raw_mask", U8, PIXEL, "The raw classification (255 foreground).")
    final_mask = g.input(
        "final_mask", U8, PIXEL,
        "The clean mask after hole filling and small-blob removal (255 foreground).",
    )
    samples = g.input("samples", U8, SAMPLES, "State: sample k of pixel (x,y) at [b,y,k,x].")
    radius = g.input("radius", U8, PIXEL, "State: each pixel's match radius.")
    flicker = g.input("flicker", U8, PIXEL, "State: each pixel's flicker level 0..255.")
    previous_raw = g.input("previous_raw", U8, PIXEL, "State: the raw mask of the last frame.")
    trust = g.input("trust", U8, PIXEL, "State: frames of background in a row, 0..255.")
    reference = g.input("reference", U8, PIXEL, "State: the slowly following reference luma.")
    ff = g.input(
        "foreground_frames", I32, PIXEL, "State: frames of raw foreground in a row, 0..65535."
    )
    own_slot = g.input(
        "own_slot", I32, PIXEL, "Draw: the own sample a visited pixel writes; -1: not visited."
    )
    spread_dir = g.input("spread_dir", I32, PIXEL, "Draw: the neighbour direction 0..7 spread to.")
    spread_slot = g.input("spread_slot", I32, PIXEL, "Draw: the neighbour's sample written.")
    ghost_dir = g.input(
        "ghost_dir", I32, PIXEL, "Draw: the neighbour a ghost pixel compares with; -1: none."
    )
    ghost_slot = g.input("ghost_slot", I32, PIXEL, "Draw: the own sample a ghost pixel writes.")
    match_radius = g.input("match_radius", I32, CAMERA, "Per camera: the base match radius.")
    min_matches = g.input("min_matches", I32, CAMERA, "Per camera: ViBe's #min.")
    absorb_after = g.input(
        "absorb_after", I32, CAMERA,
        "Per camera: foreground frames after which a pixel updates as background (0: never).",
    )
    ghost_after = g.input(
        "ghost_after", I32, CAMERA,
        "Per camera: foreground frames after which ghost removal applies (0: never).",
    )
    flicker_increment = g.input(
        "flicker_increment", I32, CAMERA, "Per camera: flicker gain per flicker (0: no flicker)."
    )
    flicker_decrement = g.input(
        "flicker_decrement", I32, CAMERA, "Per camera: flicker loss per steady frame."
    )
    flicker_extra = g.input(
        "flicker_extra", I32, CAMERA, "Per camera: the radius added at full flicker (x/256)."
    )
    propagation = g.input(
        "propagation", I32, CAMERA, "Per camera: spread into a neighbour's samples (0: off)."
    )

    # Common values.
    raw_i32 = c.as_int32(raw_mask, "The raw mask")
    raw = g.node("Equal", [raw_i32, c.i32_255], "is_raw", "raw[p]: the raw mask is 255.")
    fin = g.node(
        "Equal", [c.as_int32(final_mask, "The final mask"), c.i32_255], "is_final",
        "fin[p]: the final mask is 255.",
    )
    samples_shape, n_scalar, k = c.sample_indices(samples)
    luma_i32 = c.as_int32(luma, "The luma")
    luma_col = c.sample_column(luma, "The luma (uint8, the value written)")

    # Step 1: ViBe's conservative random update.
    visited = g.node(
        "GreaterOrEqual", [own_slot, c.i32_0], "visited",
        "visited[p]: own_slot[p] >= 0 (the update's random walk landed on p).",
    )
    absorb_b = c.per_camera(absorb_after)
    absorb_on = g.node(
        "Greater", [absorb_b, c.i32_0], "absorb_enabled", "absorb_after > 0, per camera."
    )
    ff_absorb = g.node(
        "GreaterOrEqual", [ff, absorb_b], "ff_reached_absorb", "ff[p] >= absorb_after."
    )
    stationary = g.node(
        "And", [absorb_on, ff_absorb], "stationary",
        "stationary[p] = absorb_after > 0 and ff[p] >= absorb_after.",
    )
    either_mask = g.node(
        "Or", [raw, fin], "raw_or_final", "raw[p] or fin[p]: foreground in either mask."
    )
    background = g.node(
        "Not", [either_mask], "background_in_both", "not raw[p] and not fin[p]."
    )
    eligible = g.node(
        "Or", [background, stationary], "update_eligible",
        "(not raw[p] and not fin[p]) or stationary[p].",
    )
    writes = g.node(
        "And", [visited, eligible], "writes",
        "writes[p] = visited[p] and ((not raw[p] and not fin[p]) or stationary[p]).",
    )
    reset = g.node(
        "And", [visited, stationary], "trust_reset",
        "visited[p] and stationary[p]: the pixel's trust drops to 0.",
    )
    trust_1 = g.node(
        "Where", [reset, c.u8_0, trust], "trust_after_update",
        "Trust after step 1: 0 where visited and stationary, else unchanged.",
    )
    own_target = g.node(
        "Where", [writes, own_slot, c.i32_minus1], "own_write_slot",
        "The own sample p writes: own_slot[p] where writes[p], else -1 (no write).",
    )
    propagation_off = g.node(
        "Equal", [c.per_camera(propagation), c.i32_0], "propagation_off",
        "propagation == 0, per camera.",
    )
    propagation_on = g.node(
        "Not", [propagation_off], "propagation_on", "propagation != 0, per camera."
    )
    spreads = g.node(
        "And", [writes, propagation_on], "spreads",
        "writes[p] and propagation != 0: p also writes into a neighbour's sample.",
    )
    spread_source_slot = g.node(
        "Where", [spreads, spread_slot, c.i32_minus1], "spread_source_slot",
        "The neighbour sample p writes: spread_slot[p] where p spreads, else -1 (no write).",
    )
    target_free = g.node(
        "Equal", [ff, c.i32_0], "accepts_spread",
        "ff[q] == 0: a target pixel q accepts spread writes only when it was not foreground.",
    )

    # The spread writes arriving at each target q: for direction d, the writer is
    # p = q - d(d), which spreads into q when its spread_dir is d.
    mover = Mover(g, luma)
    arrived: dict[int, tuple[str, str]] = {}
    for d, (dx, dy) in enumerate(DIRECTIONS):
        word = DIRECTION_WORDS[d]
        dir_const = g.const(f"direction_{d}", d, np.int32, f"Direction {d} ({word}).")
        toward = g.node(
            "Equal", [spread_dir, dir_const], f"spreads_toward_{d}",
            f"spread_dir[p] == {d}: p spreads to its neighbour {word} (dx={dx}, dy={dy}).",
        )
        source = g.node(
            "Where", [toward, spread_source_slot, c.i32_minus1], f"spread_slot_toward_{d}",
            f"The slot p writes in its neighbour {word}, or -1 when p writes nothing there.",
        )
        from_word = f"the pixel at q - d({d}) = {_position(-dx, -dy)}"
        slot_at_q = mover.to_target(
            source, d, np.int32, -1, f"spread_slot_from_{d}",
            f"At each target q, the slot that {from_word} writes into q with direction {d}",
        )
        accepted = g.node(
            "Where", [target_free, slot_at_q, c.i32_minus1], f"spread_write_slot_{d}",
            f"The slot {from_word} writes at q, kept only where ff[q] == 0; -1: no write.",
        )
        value_at_q = mover.to_target(
            luma, d, np.uint8, 0, f"spread_luma_from_{d}",
            f"At each target q, the luma of {from_word} (the value its spread writes)",
        )
        arrived[d] = (accepted, c.sample_column(value_at_q, f"The luma of {from_word}"))

    # Apply the writes in raster order of the writer: the last write wins.
    current = samples
    order = [7, 6, 5, 4, "own", 3, 2, 1, 0]
    for step, writer in enumerate(order):
        output = "samples_after_update" if step == len(order) - 1 else f"samples_write_{step}"
        if writer == "own":
            current = c.write_slot(
                current, own_target, luma_col, k, output,
                f"Write {step + 1} of 9 at q (raster order of the writer): q's own write, "
                "samples[q, own_slot[q]] = luma[q] where writes[q]",
            )
        else:
            dx, dy = DIRECTIONS[writer]
            slot, value = arrived[writer]
            current = c.write_slot(
                current, slot, value, k, output,
                f"Write {step + 1} of 9 at q (raster order of the writer): the spread of the "
                f"pixel at q - d({writer}) = {_position(-dx, -dy)}, "
                f"samples[q, its spread_slot] = its luma",
            )
    samples_1 = current

    # Step 2: ghost removal.
    ghost_b = c.per_camera(ghost_after)
    ghost_on = g.node(
        "Greater", [ghost_b, c.i32_0], "ghost_enabled", "ghost_after > 0, per camera."
    )
    ff_ghost = g.node(
        "GreaterOrEqual", [ff, ghost_b], "ff_reached_ghost", "ff[p] >= ghost_after."
    )
    trust_1_i32 = c.as_int32(trust_1, "Trust after step 1")
    trusted = g.node(
        "Equal", [trust_1_i32, c.i32_255], "trusted", "trust[p] == 255 (after step 1)."
    )
    untrusted = g.node("Not", [trusted], "untrusted", "trust[p] != 255 (after step 1).")
    has_dir = g.node(
        "GreaterOrEqual", [ghost_dir, c.i32_0], "has_ghost_draw", "ghost_dir[p] >= 0."
    )
    cand = g.node("And", [ghost_on, raw], "ghost_candidate_1", "ghost_after > 0 and raw[p].")
    cand = g.node(
        "And", [cand, ff_ghost], "ghost_candidate_2",
        "ghost_after > 0 and raw[p] and ff[p] >= ghost_after.",
    )
    cand = g.node(
        "And", [cand, untrusted], "ghost_candidate_3",
        "ghost_after > 0 and raw[p] and ff[p] >= ghost_after and trust[p] != 255.",
    )
    candidate = g.node(
        "And", [cand, has_dir], "ghost_candidate",
        "Ghost candidate: ghost_after > 0 and raw[p] and ff[p] >= ghost_after and "
        "trust[p] != 255 and ghost_dir[p] >= 0.",
    )
    dir_any = g.node(
        "Max", [ghost_dir, c.i32_0], "ghost_dir_clamped",
        "ghost_dir with -1 replaced by 0, only to look up the table (such pixels are not "
        "candidates).",
    )
    dx_table = g.const(
        "direction_dx", [d[0] for d in DIRECTIONS], np.int32, "dx of directions 0..7."
    )
    dy_table = g.const(
        "direction_dy", [d[1] for d in DIRECTIONS], np.int32, "dy of directions 0..7."
    )
    ghost_dx = g.node(
        "Gather", [dx_table, dir_any], "ghost_dx", "dx of d(ghost_dir[p]).", axis=0
    )
    ghost_dy = g.node(
        "Gather", [dy_table, dir_any], "ghost_dy", "dy of d(ghost_dir[p]).", axis=0
    )
    luma_shape = g.node("Shape", [luma], "frame_shape", "The shape [B,H,W] of the frame.")
    height = _dim_int32(g, luma_shape, 1, "frame_height", "H, the frame height")
    width = _dim_int32(g, luma_shape, 2, "frame_width", "W, the frame width")
    rows = g.node(
        "Range", [c.i32_0, height, c.i32_1], "row_list", "The row numbers 0..H-1."
    )
    cols = g.node(
        "Range", [c.i32_0, width, c.i32_1], "column_list", "The column numbers 0..W-1."
    )
    row_shape = g.const("shape_1_H_1", [1, -1, 1], np.int64, "Shape [1,H,1].")
    col_shape = g.const("shape_1_1_W", [1, 1, -1], np.int64, "Shape [1,1,W].")
    ys = g.node("Reshape", [rows, row_shape], "row_y", "y of each pixel, [1,H,1].")
    xs = g.node("Reshape", [cols, col_shape], "column_x", "x of each pixel, [1,1,W].")
    ny = g.node("Add", [ys, ghost_dy], "ghost_neighbour_y", "y of n = p + d(ghost_dir[p]).")
    nx = g.node("Add", [xs, ghost_dx], "ghost_neighbour_x", "x of n = p + d(ghost_dir[p]).")
    inside = _inside(g, c, ny, nx, height, width)
    ny_safe = g.node(
        "Where", [inside, ny, ys], "ghost_neighbour_y_safe",
        "y of n, or p's own y where n is outside the frame (that result is discarded).",
    )
    nx_safe = g.node(
        "Where", [inside, nx, xs], "ghost_neighbour_x_safe",
        "x of n, or p's own x where n is outside the frame (that result is discarded).",
    )
    flat_shape = g.const(
        "shape_B_flat", [0, -1], np.int64, "Shape [B, everything else]: one row per camera."
    )
    row_start = g.node(
        "Mul", [ny_safe, width], "ghost_neighbour_row_start", "ny * W."
    )
    pixel_index = g.node(
        "Add", [row_start, nx_safe], "ghost_neighbour_pixel",
        "The index ny*W + nx of n within its camera's H*W pixels.",
    )
    pixel_index_flat = g.node(
        "Reshape", [pixel_index, flat_shape], "ghost_neighbour_pixel_flat",
        "Those indices as [B,H*W].",
    )
    raw_flat = g.node("Reshape", [raw, flat_shape], "is_raw_flat", "raw as [B,H*W].")
    raw_n_flat = g.node(
        "GatherElements", [raw_flat, pixel_index_flat], "ghost_neighbour_raw_flat",
        "raw[n] for each pixel p, [B,H*W].", axis=1,
    )
    raw_n = g.node(
        "Reshape", [raw_n_flat, luma_shape], "ghost_neighbour_raw", "raw[n] as [B,H,W]."
    )
    radius_flat = g.node("Reshape", [radius, flat_shape], "radius_flat", "radius as [B,H*W].")
    radius_n_flat = g.node(
        "GatherElements", [radius_flat, pixel_index_flat], "ghost_neighbour_radius_flat",
        "radius[n] (the neighbour's own radius, no noise floor), [B,H*W].", axis=1,
    )
    radius_n = g.node(
        "Reshape", [radius_n_flat, luma_shape], "ghost_neighbour_radius", "radius[n], [B,H,W]."
    )
    radius_n_col = c.sample_column(
        c.as_int32(radius_n, "radius[n]"), "The neighbour's radius radius[n]"
    )
    plane = g.node("Mul", [n_scalar, width], "sample_row_length", "N*W: one row of samples.")
    sample_row_start = g.node(
        "Mul", [ny_safe, plane], "ghost_neighbour_sample_row", "ny*N*W."
    )
    sample_base = g.node(
        "Add", [sample_row_start, nx_safe], "ghost_neighbour_sample_base",
        "ny*N*W + nx: the index of n's sample 0 within its camera's [H,N,W] samples.",
    )
    k_offset = g.node("Mul", [k, width], "sample_offset", "k*W: the offset of sample k.")
    sample_index = g.node(
        "Add", [c.sample_column(sample_base, "The index of n's sample 0"), k_offset],
        "ghost_neighbour_sample_index",
        "ny*N*W + k*W + nx: the index of n's sample k, [B,H,N,W].",
    )
    sample_index_flat = g.node(
        "Reshape", [sample_index, flat_shape], "ghost_neighbour_sample_index_flat",
        "Those indices as [B,H*N*W].",
    )
    samples_1_flat = g.node(
        "Reshape", [samples_1, flat_shape], "samples_after_update_flat",
        "The samples after step 1 as [B,H*N*W].",
    )
    n_samples_flat = g.node(
        "GatherElements", [samples_1_flat, sample_index_flat], "ghost_neighbour_samples_flat",
        "samples[n,k] after step 1, for every pixel p and sample k, [B,H*N*W].", axis=1,
    )
    n_samples = g.node(
        "Reshape", [n_samples_flat, samples_shape], "ghost_neighbour_samples",
        "samples[n,k] after step 1 as [B,H,N,W].",
    )
    luma_i32_col = c.sample_column(luma_i32, "The luma (int32)")
    n_matches = c.count_matches(
        "ghost", c.as_int32(n_samples, "The neighbour's samples"), luma_i32_col, radius_n_col,
        "Ghost check (the neighbour n's samples against p's luma, n's own radius)",
    )
    enough = g.node(
        "GreaterOrEqual", [n_matches, c.per_camera(min_matches)], "ghost_enough_matches",
        "#{k : |samples[n,k] - luma[p]| < radius[n]} >= min_matches.",
    )
    n_background = g.node("Not", [raw_n], "ghost_neighbour_background", "not raw[n].")
    absorbs = g.node(
        "And", [candidate, inside], "ghost_absorbs_1", "Ghost candidate and n inside the frame."
    )
    absorbs = g.node(
        "And", [absorbs, n_background], "ghost_absorbs_2",
        "Ghost candidate, n inside the frame and not raw[n].",
    )
    absorbs = g.node(
        "And", [absorbs, enough], "ghost_absorbs",
        "Ghost removal writes at p: candidate, n inside the frame, not raw[n], and enough "
        "of n's samples match luma[p].",
    )
    ghost_target = g.node(
        "Where", [absorbs, ghost_slot, c.i32_minus1], "ghost_write_slot",
        "The own sample a ghost pixel writes: ghost_slot[p] where it absorbs, else -1.",
    )
    c.write_slot(
        samples_1, ghost_target, luma_col, k, "samples_out",
        "Ghost removal: samples[p, ghost_slot[p]] = luma[p] where the ghost check passed",
    )

    # Step 3: learning.
    ff_plus = g.node("Add", [ff, c.i32_1], "ff_plus_1", "ff + 1.")
    ff_max = c.scalar(np.int32, 65535)
    ff_capped = g.node("Min", [ff_plus, ff_max], "ff_plus_1_capped", "min(ff + 1, 65535).")
    g.node(
        "Where", [raw, ff_capped, c.i32_0], "foreground_frames_out",
        "ff_out = min(ff + 1, 65535) where raw, else 0.",
    )
    trust_plus = g.node("Add", [trust_1_i32, c.i32_1], "trust_plus_1", "trust + 1.")
    trust_capped = g.node(
        "Min", [trust_plus, c.i32_255], "trust_plus_1_capped", "min(trust + 1, 255)."
    )
    trust_new = g.node(
        "Where", [raw, trust_1_i32, trust_capped], "trust_learned",
        "trust (after step 1) where raw, else min(trust + 1, 255).",
    )
    g.node("Cast", [trust_new], "trust_out", "trust_out as uint8.", to=U8)
    reference_i32 = c.as_int32(reference, "The reference")
    towards = g.node(
        "Sub", [luma_i32, reference_i32], "luma_minus_reference", "luma - reference."
    )
    direction = g.node(
        "Sign", [towards], "reference_step",
        "+1 where luma > reference, -1 where luma < reference, 0 where equal.",
    )
    moved = g.node(
        "Add", [reference_i32, direction], "reference_moved",
        "The reference one step (+-1) towards the luma (unchanged when equal).",
    )
    reference_new = g.node(
        "Where", [fin, reference_i32, moved], "reference_learned",
        "reference_out: unchanged where fin, else one step towards luma.",
    )
    g.node("Cast", [reference_new], "reference_out", "reference_out as uint8.", to=U8)

    increment_b = c.per_camera(flicker_increment)
    flicker_off = g.node(
        "Equal", [increment_b, c.i32_0], "flicker_off",
        "flicker_increment == 0 (per camera): flicker, radius and previous_raw pass through.",
    )
    previous_i32 = c.as_int32(previous_raw, "The previous raw mask")
    same = g.node(
        "Equal", [previous_i32, raw_i32], "raw_unchanged", "previous_raw == raw_mask."
    )
    changed = g.node("Not", [same], "raw_changed", "previous_raw != raw_mask.")
    not_fin = g.node("Not", [fin], "not_final", "not fin[p].")
    flickered = g.node(
        "And", [changed, not_fin], "flickered",
        "flickered = (previous_raw != raw_mask) and not fin.",
    )
    flicker_i32 = c.as_int32(flicker, "The flicker level")
    up = g.node(
        "Add", [flicker_i32, increment_b], "flicker_up",
        "flicker + flicker_increment.",
    )
    up = g.node("Min", [up, c.i32_255], "flicker_up_capped", "min(flicker + flicker_increment, 255).")
    down = g.node(
        "Sub", [flicker_i32, c.per_camera(flicker_decrement)], "flicker_down",
        "flicker - flicker_decrement.",
    )
    down = g.node(
        "Max", [down, c.i32_0], "flicker_down_floored", "max(flicker - flicker_decrement, 0)."
    )
    flicker_new = g.node(
        "Where", [flickered, up, down], "flicker_learned",
        "min(flicker + flicker_increment, 255) where flickered, else "
        "max(flicker - flicker_decrement, 0).",
    )
    flicker_kept = g.node(
        "Where", [flicker_off, flicker_i32, flicker_new], "flicker_out_int32",
        "flicker_out: the input where flicker_increment == 0, else the learned level.",
    )
    g.node("Cast", [flicker_kept], "flicker_out", "flicker_out as uint8.", to=U8)
    scaled = g.node(
        "Mul", [flicker_new, c.per_camera(flicker_extra)], "flicker_times_extra",
        "flicker_out * flicker_extra.",
    )
    shift_8 = c.scalar(np.int32, 256)
    extra = g.node(
        "Div", [scaled, shift_8], "radius_extra",
        "(flicker_out * flicker_extra) >> 8 (a non-negative integer division by 256).",
    )
    widened = g.node(
        "Add", [c.per_camera(match_radius), extra], "radius_widened",
        "match_radius + ((flicker_out * flicker_extra) >> 8).",
    )
    radius_new = g.node(
        "Min", [widened, c.i32_255], "radius_learned",
        "min(match_radius + ((flicker_out * flicker_extra) >> 8), 255).",
    )
    radius_i32 = c.as_int32(radius, "The radius")
    radius_kept = g.node(
        "Where", [flicker_off, radius_i32, radius_new], "radius_out_int32",
        "radius_out: the input where flicker_increment == 0, else the learned radius.",
    )
    g.node("Cast", [radius_kept], "radius_out", "radius_out as uint8.", to=U8)
    g.node(
        "Where", [flicker_off, previous_raw, raw_mask], "previous_raw_out",
        "previous_raw_out: the input where flicker_increment == 0, else this frame's raw_mask.",
    )

    g.output("samples_out", U8, SAMPLES, "The samples after update and ghost removal.")
    g.output("radius_out", U8, PIXEL, "The radius after the flicker feedback.")
    g.output("flicker_out", U8, PIXEL, "The flicker level after this frame.")
    g.output("previous_raw_out", U8, PIXEL, "The raw mask to compare with next frame.")
    g.output("trust_out", U8, PIXEL, "Frames of background in a row, 0..255.")
    g.output("reference_out", U8, PIXEL, "The reference after one step towards the luma.")
    g.output("foreground_frames_out", I32, PIXEL, "Frames of raw foreground in a row.")
    return g.model(
        "stillwatch_update",
        "Stillwatch update (docs/design/onnx.md), in order: 1. ViBe's conservative random "
        "update: visited pixels (own_slot >= 0) that are background in both masks, or "
        "stationary (ff >= absorb_after > 0), write their luma into sample own_slot and, when "
        "propagation is on, into sample spread_slot of the neighbour d(spread_dir) if it is "
        "inside the frame with ff == 0; writes apply in raster order of the writer, the last "
        "one wins; visited stationary pixels reset trust to 0. 2. Ghost removal: a raw pixel "
        "with ff >= ghost_after > 0, trust != 255 and ghost_dir >= 0 whose neighbour "
        "n = p + d(ghost_dir) is inside and not raw, with at least min_matches of n's samples "
        "within radius[n] of its luma, writes its luma into sample ghost_slot. 3. Learning: "
        "foreground_frames, trust, reference, and (when flicker_increment != 0) flicker, "
        "radius and previous_raw. Integer semantics throughout.",
    )


def _position(dx: int, dy: int) -> str:
    """(x, y) moved by (dx, dy), in words: "(x-1, y)"."""
    def term(name: str, delta: int) -> str:
        return name if delta == 0 else f"{name}{delta:+d}"
    return f"({term('x', dx)}, {term('y', dy)})"


def _dim_int32(g: GraphBuilder, shape: str, index: int, output: str, what: str) -> str:
    """Dimension `index` of a shape tensor, as an int32 scalar."""
    position = g.const(f"{output}_index", index, np.int64, f"Index {index} of a shape.")
    dim = g.node(
        "Gather", [shape, position], f"{output}_int64", f"{what}, read from the shape (int64).",
        axis=0,
    )
    return g.node("Cast", [dim], output, f"{what} as an int32 scalar.", to=I32)


def _inside(g: GraphBuilder, c: Common, ny: str, nx: str, height: str, width: str) -> str:
    y_low = g.node("GreaterOrEqual", [ny, c.i32_0], "ghost_neighbour_y_ok_low", "ny >= 0.")
    y_high = g.node("Less", [ny, height], "ghost_neighbour_y_ok_high", "ny < H.")
    x_low = g.node("GreaterOrEqual", [nx, c.i32_0], "ghost_neighbour_x_ok_low", "nx >= 0.")
    x_high = g.node("Less", [nx, width], "ghost_neighbour_x_ok_high", "nx < W.")
    y_ok = g.node("And", [y_low, y_high], "ghost_neighbour_y_ok", "0 <= ny < H.")
    x_ok = g.node("And", [x_low, x_high], "ghost_neighbour_x_ok", "0 <= nx < W.")
    return g.node(
        "And", [y_ok, x_ok], "ghost_neighbour_inside", "n = p + d(ghost_dir) is inside the frame."
    )


class Mover:
    """Moves [B,H,W] tensors by one pixel along rows and columns, so that target q holds the
    value of the writer p = q - d(d). Built from Slice and Concat with a border made by
    ConstantOfShape, which every provider implements for int32 and uint8 (ONNX Runtime's CUDA
    provider has no integer Pad)."""

    def __init__(self, g: GraphBuilder, frame: str) -> None:
        self.g = g
        one = g.const("int64_1_list", [1], np.int64, "[1]: a border one pixel thick.")
        batch = g.node("Shape", [frame], "batch_size", "[B], from the frame's shape.", end=1)
        height = g.node(
            "Shape", [frame], "frame_height_list", "[H], from the frame's shape.", start=1, end=2
        )
        width = g.node("Shape", [frame], "frame_width_list", "[W], from the frame's shape.",
                       start=2)
        self.border_shapes = {
            1: g.node("Concat", [batch, one, width], "row_border_shape", "[B,1,W]: one row.",
                      axis=0),
            2: g.node("Concat", [batch, height, one], "column_border_shape",
                      "[B,H,1]: one column.", axis=0),
        }
        self.borders: dict[tuple[str, int], str] = {}
        self.slices: dict[tuple[int, int], tuple[str, str, str]] = {}

    def border(self, dtype, fill: int, axis: int) -> str:
        kind = np.dtype(dtype).name
        if (kind, axis) not in self.borders:
            what = "row" if axis == 1 else "column"
            label = f"minus_{-fill}" if fill < 0 else str(fill)
            self.borders[(kind, axis)] = self.g.node(
                "ConstantOfShape", [self.border_shapes[axis]], f"{what}_of_{kind}_{label}",
                f"A {what} of {kind} {fill} ({'no write' if fill < 0 else 'unused value'}), "
                f"to fill the edge that a move leaves empty.",
                value=numpy_helper.from_array(np.array([fill], dtype=dtype), name="fill"),
            )
        return self.borders[(kind, axis)]

    def _slice_inputs(self, axis: int, drop_last: bool) -> list[str]:
        key = (axis, int(drop_last))
        if key not in self.slices:
            g, what = self.g, "row" if axis == 1 else "column"
            part = "last" if drop_last else "first"
            self.slices[key] = (
                g.const(f"drop_{part}_{what}_starts", [0 if drop_last else 1], np.int64,
                        f"Slice start: drop the {part} {what}."),
                g.const(f"drop_{part}_{what}_ends", [-1 if drop_last else INT64_MAX], np.int64,
                        f"Slice end: drop the {part} {what}."),
                g.const(f"drop_{part}_{what}_axes", [axis], np.int64,
                        f"Slice axis {axis} ({what}s)."),
            )
        return list(self.slices[key])

    def to_target(self, source: str, d: int, dtype, fill: int, output: str, doc: str) -> str:
        """out[y, x] = source[y - dy, x - dx], and `fill` where (x - dx, y - dy) is outside the
        frame."""
        dx, dy = DIRECTIONS[d]
        moves = [(axis, delta) for axis, delta in ((1, dy), (2, dx)) if delta != 0]
        current = source
        for i, (axis, delta) in enumerate(moves):
            what = "row" if axis == 1 else "column"
            side, edge = ("top", "last") if axis == 1 else ("left", "last")
            if delta == -1:
                side, edge = ("bottom", "first") if axis == 1 else ("right", "first")
            step = f"{output}_{what}s" if i < len(moves) - 1 else output
            kept = self.g.node(
                "Slice", [current, *self._slice_inputs(axis, drop_last=delta == 1)],
                f"{step}_kept",
                f"{doc}: drop the {edge} {what}, whose target would be outside the frame.",
            )
            border = self.border(dtype, fill, axis)
            parts = [border, kept] if delta == 1 else [kept, border]
            current = self.g.node(
                "Concat", parts, step,
                f"{doc}: add a {what} of {fill} at the {side}, where the writer would be outside "
                "the frame.",
                axis=axis,
            )
        return current


def describe(model: onnx.ModelProto, name: str, file: str, data: bytes) -> dict:
    def io(values) -> list:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
            out.append({"name": v.name, "type": TYPE_NAMES[t.elem_type], "shape": shape})
        return out

    return {
        "name": name,
        "file": file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "opset": OPSET,
        "ir_version": model.ir_version,
        "inputs": io(model.graph.input),
        "outputs": io(model.graph.output),
    }


def generate(out_dir: Path) -> None:
    entries = []
    for name, build in (("classify", build_classify), ("update", build_update)):
        model = build()
        data = model.SerializeToString(deterministic=True)
        file = f"{name}.onnx"
        (out_dir / file).write_bytes(data)
        entries.append(describe(model, name, file, data))
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "generator": GENERATOR_COMMAND,
        "onnx_version": onnx.__version__,
        "models": entries,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (out_dir / "manifest.json").write_text(text, encoding="utf-8")


def pinned_onnx_version() -> str | None:
    for line in (MODELS_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("onnx=="):
            return line.strip().split("==", 1)[1]
    return None


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        differing = []
        for file in FILES:
            committed = MODELS_DIR / file
            if not committed.is_file():
                differing.append(f"models/{file} (missing)")
            elif not filecmp.cmp(committed, fresh / file, shallow=False):
                differing.append(f"models/{file} (differs from a fresh generation)")
    if not differing:
        print("models/: classify.onnx, update.onnx and manifest.json match the generator")
        return 0
    print("models/ is out of date with models/generate.py:", file=sys.stderr)
    for line in differing:
        print(f"  {line}", file=sys.stderr)
    pinned = pinned_onnx_version()
    if pinned is not None and pinned != onnx.__version__:
        print(
            f"note: this onnx is {onnx.__version__}, models/requirements.txt pins {pinned}; "
            "the bytes depend on it",
            file=sys.stderr,
        )
    print(
        f"regenerate with `{GENERATOR_COMMAND}` (packages of models/requirements.txt) "
        "and commit the three files",
        file=sys.stderr,
    )
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true",
        help="regenerate into a temporary folder and fail when the committed files differ",
    )
    args = parser.parse_args()
    if args.check:
        return check()
    generate(MODELS_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
