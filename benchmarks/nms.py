"""kerasdl's non-max suppression (keras.ops) against TensorFlow's: time and agreement on the same boxes.

Course 4, Week 3 ("Non-max suppression"). `kerasdl.nn.detection.nms` is
written in `keras.ops` so it runs on every backend and compiles; TensorFlow
has a dedicated kernel. On the same random boxes, scores and thresholds:

- one image, N boxes (--sizes), greedy NMS keeping up to --max-output boxes
  at IoU 0.5: `non_max_suppression` against `tf.image.non_max_suppression`,
  both in a `tf.function` (kerasdl's also compiled with XLA, `_xla`);
- per class, a batch of --batch images with N boxes of --classes classes
  each: kerasdl's `classes=` form against `tf.image.combined_non_max_suppression`
  (per-class NMS, then the best --max-output over the classes), kerasdl's
  also with XLA;
- agreement: on --agreement-sets random sets, the share where both select
  exactly the same boxes in the same order (per class: the same boxes,
  scores and classes).

Timings alternate short blocks of the two sides after a warm-up
(`kerasdl.training.benchmarking`); the ratio is kerasdl's time over
TensorFlow's, the median of neighbouring blocks' ratios. Below 1 kerasdl is
faster. kerasdl's loop runs --max-output steps of O(N) each whatever the
data, TensorFlow's kernel stops when the boxes run out.

Run:
    python benchmarks/nms.py                    # about 1 minute on 2 CPU cores
    python benchmarks/nms.py --sizes 100,1000,10000 --max-output 50

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.nn.detection.nms import non_max_suppression
from kerasdl.training import benchmarking

IOU = 0.5


def random_boxes(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (y_min, x_min, y_max, x_max) in [0, 1] of sides 0.05-0.3, many overlapping; scores in (0, 1)."""
    centres = rng.uniform(0.15, 0.85, size=(*shape, 2))
    sides = rng.uniform(0.05, 0.3, size=(*shape, 2))
    boxes = np.concatenate([centres - sides / 2, centres + sides / 2], axis=-1).astype("float32")
    return boxes, rng.uniform(0.01, 1.0, size=shape).astype("float32")


def single_functions(max_output: int) -> dict:
    """name -> tf.function(boxes, scores) -> the selected indices, in order."""

    def ours(boxes, scores):
        indices, valid = non_max_suppression(boxes, scores, max_output, IOU)
        return tf.boolean_mask(indices, valid)

    def theirs(boxes, scores):
        return tf.image.non_max_suppression(boxes, scores, max_output, IOU)

    return {
        "kerasdl": tf.function(ours, jit_compile=False),
        "kerasdl_xla": tf.function(ours, jit_compile=True),
        "tf": tf.function(theirs),
    }


def per_class_functions(max_output: int, classes: int) -> dict:
    """name -> tf.function(boxes [B, N, 4], scores [B, N], class ids [B, N]) -> (scores, classes, valid)."""

    def ours(boxes, scores, ids):
        indices, valid = non_max_suppression(boxes, scores, max_output, IOU, classes=ids)
        picked_scores = tf.where(valid, tf.gather(scores, indices, batch_dims=1), 0.0)
        return picked_scores, tf.where(valid, tf.gather(ids, indices, batch_dims=1), 0), valid

    def theirs(boxes, scores, ids):
        # One box shared by every class (q = 1); a box scores only in its own class, 0 elsewhere.
        class_scores = tf.one_hot(ids, classes) * scores[..., None]
        result = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :],
            class_scores,
            max_output,
            max_output,
            IOU,
            score_threshold=0.0,
            clip_boxes=False,
        )
        valid = tf.range(max_output)[None, :] < result.valid_detections[:, None]
        return result.nmsed_scores, tf.cast(result.nmsed_classes, tf.int32), valid

    return {
        "kerasdl": tf.function(ours, jit_compile=False),
        "kerasdl_xla": tf.function(ours, jit_compile=True),
        "tf": tf.function(theirs),
    }


def agreement_single(functions: dict, size: int, sets: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    same = 0
    for _ in range(sets):
        boxes, scores = random_boxes(rng, (size,))
        ours = functions["kerasdl"](boxes, scores).numpy()
        same += np.array_equal(ours, functions["tf"](boxes, scores).numpy())
    return same / sets


def agreement_per_class(functions: dict, shape: tuple[int, int], classes: int, sets: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    same = 0
    for _ in range(sets):
        boxes, scores = random_boxes(rng, shape)
        ids = rng.integers(0, classes, size=shape).astype("int32")
        (s1, c1, v1), (s2, c2, v2) = (
            [t.numpy() for t in functions[side](boxes, scores, ids)] for side in ("kerasdl", "tf")
        )
        same += np.array_equal(v1, v2) and np.array_equal(c1[v1], c2[v2]) and np.allclose(s1[v1], s2[v2])
    return same / sets


def main(argv=None) -> int:
    parser = benchmarking.benchmark_parser(__doc__)
    parser.add_argument("--sizes", default="100,1000,5000", help="boxes per image, comma-separated")
    parser.add_argument("--max-output", type=int, default=100, help="boxes kept at most")
    parser.add_argument("--batch", type=int, default=8, help="images of the per-class benchmark")
    parser.add_argument("--classes", type=int, default=10, help="classes of the per-class benchmark")
    parser.add_argument(
        "--per-class-size", type=int, default=1000, help="boxes per image, per-class benchmark"
    )
    parser.add_argument("--agreement-sets", type=int, default=200, help="random sets of the agreement check")
    benchmarking.add_block_flags(parser, calls=5, repeats=15, call="NMS calls", subject="implementation")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rng = np.random.default_rng(0)

    single = single_functions(args.max_output)
    for size in sizes:
        boxes, scores = (tf.constant(a) for a in random_boxes(rng, (size,)))
        blocks = benchmarking.alternating_blocks(
            {
                name: lambda f=function, b=boxes, s=scores: f(b, s).numpy()
                for name, function in single.items()
            },
            calls=args.calls,
            repeats=args.repeats,
        )
        figures = {
            f"nms_ms_{name}_n{size}": f"{1e3 * np.median(times):.3f}" for name, times in blocks.items()
        }
        for ours in ("kerasdl", "kerasdl_xla"):
            ratio = benchmarking.paired_ratio(blocks[ours], blocks["tf"])
            figures[f"nms_time_ratio_{ours}_over_tf_n{size}"] = f"{ratio:.3f}"
        benchmarking.print_figures(figures)
    agreement = agreement_single(single, 200, args.agreement_sets, seed=1)
    benchmarking.print_figures(
        {f"nms_agreement_fraction_n200_{args.agreement_sets}_sets": f"{agreement:.4f}"}
    )

    per_class = per_class_functions(args.max_output, args.classes)
    shape = (args.batch, args.per_class_size)
    boxes, scores = (tf.constant(a) for a in random_boxes(rng, shape))
    ids = tf.constant(rng.integers(0, args.classes, size=shape).astype("int32"))
    blocks = benchmarking.alternating_blocks(
        {
            side: lambda f=function: [t.numpy() for t in f(boxes, scores, ids)]
            for side, function in per_class.items()
        },
        calls=args.calls,
        repeats=args.repeats,
    )
    label = f"b{args.batch}_n{args.per_class_size}_c{args.classes}"
    figures = {f"per_class_nms_ms_{side}_{label}": f"{1e3 * np.median(t):.3f}" for side, t in blocks.items()}
    for ours in ("kerasdl", "kerasdl_xla"):
        ratio = benchmarking.paired_ratio(blocks[ours], blocks["tf"])
        figures[f"per_class_nms_time_ratio_{ours}_over_tf_combined_{label}"] = f"{ratio:.3f}"
    sets = args.agreement_sets // 4
    agreement = agreement_per_class(per_class, (4, 200), args.classes, sets, seed=2)
    figures[f"per_class_nms_agreement_fraction_b4_n200_{sets}_sets"] = f"{agreement:.4f}"
    benchmarking.print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
