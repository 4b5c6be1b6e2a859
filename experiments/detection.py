"""YOLO on canvases of Fashion-MNIST items: k-means anchors, the YOLO loss, per-class NMS and mAP@0.5.

Course 4, Week 3 ("Object detection", "Bounding box predictions",
"Intersection over union", "Non-max suppression", "Anchor boxes", "YOLO
algorithm"). The data are canvases (`pipelines.detection`), offline: 96 x 96
images holding 1 to 4 Fashion-MNIST items each at random scales and
positions, labelled with each item's class and tight box. The training canvases
(24,000 by default: fresh ones cost less than training on old ones again)
are made of the 60,000 Fashion-MNIST training images, dev and test canvases
of the two halves of the 10,000 test images, so no item is seen twice;
every canvas is fixed by --seed and its index.

The detector is YOLO (`kerasdl.nn.detection.yolo`): a small Darknet-like
network (Conv-BN-LeakyReLU, a stride-2 first layer, then stages of --depth
convolutions each followed by max pooling, filters doubling per stage from
--width) cuts the image into an S x S grid (--grid) whose every cell predicts,
for each of A anchors, the lesson's vector (p_c, b_x, b_y, b_h, b_w, c_1..c_10).
The anchors are chosen by k-means on the training boxes' shapes with
1 - IoU as the distance (`kerasdl.nn.detection.anchors`); each object is
encoded in the cell holding its centre, at the anchor that fits its shape
best. The loss is the lesson's, summed over cells and anchors, with YOLO's
weights lambda_coord and lambda_noobj and square-root sizes; --loss practical
(default) takes the lesson's "in practice" advice (logistic loss for p_c,
log-likelihood for the classes), --loss lesson squared errors throughout.
Detections: score = p_c times the class probability, score threshold, then
non-max suppression per class (`kerasdl.nn.detection.nms`, in keras.ops).
Each box is proposed for its --classes-per-box most probable classes, each
at its own score p_c c_i: an item the network hesitates about (shirt or
T-shirt?) is also found, at a lower score, under its second class, which
the per-class AP rewards (the best class alone: --classes-per-box 1).

mAP@0.5 (`kerasdl.evaluation.detection_map`): a detection is right when
its IoU with an unmatched object of its class is at least 0.5; AP per class
is COCO's 101-point interpolation of the precision-recall curve (the same
number as pycocotools' AP50), and the VOC all-points area is reported beside
it; mAP is the mean over the 10 classes. The dev canvases are scored after
every epoch, the test canvases once at the end.

Run:
    python -m experiments.detection                      # default profile: 24,000 canvases, 5 epochs
    python -m experiments.detection --train-canvases 6000 --epochs 2      # a quick look (a few minutes)
    python -m experiments.detection --classes-per-box 1  # each box for its best class only
    python -m experiments.detection --loss lesson        # squared errors everywhere, as the lesson writes it
    python -m experiments.detection --anchors 5 --grid 12                 # more anchors, a finer grid
    python -m experiments.detection --source tfds:voc/2007 --download     # a real detection dataset (network)
    python -m experiments.detection --resume             # continue an interrupted run
    tensorboard --logdir logs/detection

In TensorBoard: Time Series "map50" overlays the runs yolo/train (a fixed
subset of the training canvases) and yolo/dev per epoch, "map50_voc" the
same with VOC's interpolation, "loss" the YOLO loss per image, "error"
1 - mAP@0.5, and yolo/gaps "gap" (dev minus train error); yolo/test has one
point of each at the end. Images "detections" shows dev canvases after each
epoch, the objects' boxes in green and the detections scoring above
--draw-threshold in red with their class and score. Text "summary" has the
anchors, the per-class AP table and the settings. results.json has the
metrics dev_map50, test_map50, test_map50_voc, anchors_mean_iou,
dropped_objects, train_seconds and train_cpu_seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from kerasdl.evaluation.detection_map import mean_average_precision
from kerasdl.harness.cli import check_at_least, experiment_parser, fail, load_or_fail
from kerasdl.harness.curves import CurveLog, EpochCurves
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.detection.anchors import kmeans_anchors, mean_best_iou
from kerasdl.nn.detection.yolo import FORMS, YoloLoss, detect, encode_targets
from kerasdl.training.distribute import make_strategy
from pipelines.datasets import shuffled_batches
from pipelines.detection import DetectionSet, detection_canvases, item_pool, tfds_detection

EXPERIMENT = "detection"
PREFIX = "yolo"  # TensorBoard runs yolo/train, yolo/dev, yolo/test, yolo/gaps
# Flags a resumed run may change: other pictures of the same detections. (Not --epochs: the cosine
# schedule spans the run's epochs, so more of them would change the steps already planned.)
SAFE_TO_CHANGE = {"images", "draw_threshold"}
TFDS_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
PREDICT_BATCH = 250


def build_parser():
    parser = experiment_parser(EXPERIMENT, __doc__)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--source",
        default="canvases",
        help="'canvases' (Fashion-MNIST items on blank canvases, offline) or 'tfds:<name>', a tfds detection "
        "dataset with train/validation/test splits (--download once)",
    )
    data.add_argument("--download", action="store_true", help="allow tfds to download the dataset (network)")
    data.add_argument(
        "--data-dir", default=None, help="folder with the Fashion-MNIST IDX files, or tfds' data_dir"
    )
    data.add_argument(
        "--train-canvases",
        type=int,
        default=24000,
        help="training canvases (made fresh from the item pool, cheaper than training on them)",
    )
    data.add_argument("--dev-canvases", type=int, default=500, help="dev canvases, scored after every epoch")
    data.add_argument("--test-canvases", type=int, default=500, help="test canvases, scored once at the end")
    data.add_argument(
        "--canvas-size", type=int, default=96, help="canvas side in pixels (image side for tfds)"
    )
    data.add_argument("--objects", default="1,4", help="'low,high': the items per canvas, drawn uniformly")
    data.add_argument(
        "--scale", default="0.8,1.6", help="'low,high': the factor each 28-pixel item is scaled by"
    )
    data.add_argument(
        "--train-eval-size",
        type=int,
        default=500,
        help="the training curves are measured on the first N canvases",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--grid", type=int, default=6, help="S: cells per side; canvas-size / grid must be a power of 2"
    )
    model.add_argument(
        "--anchors", type=int, default=3, help="A: anchors per cell, chosen by k-means (1 - IoU)"
    )
    model.add_argument(
        "--width", type=int, default=16, help="filters of the first convolution, doubled per stage"
    )
    model.add_argument(
        "--depth", type=int, default=2, help="3 x 3 convolutions per stage from the third stage on"
    )
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--loss", choices=FORMS, default="practical", help="the form of the YOLO loss (see above)"
    )
    loss.add_argument("--lambda-coord", type=float, default=5.0, help="weight of the box errors")
    loss.add_argument(
        "--lambda-noobj", type=float, default=0.5, help="weight of p_c's error in slots without object"
    )
    loss.add_argument(
        "--sqrt-sizes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compare square roots of b_h and b_w (YOLO's), or the sizes themselves",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=5, help="passes over the training canvases")
    train.add_argument("--batch-size", type=int, default=32, help="canvases per mini-batch")
    train.add_argument("--learning-rate", type=float, default=2e-3, help="learning rate alpha of Adam")
    train.add_argument(
        "--cosine-decay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="decay alpha to 0 along a half cosine over the --epochs (or keep it constant)",
    )
    decode = parser.add_argument_group("detection")
    decode.add_argument(
        "--score-threshold",
        type=float,
        default=0.001,
        help="detections scoring at most this are dropped before NMS and mAP (low: mAP ranks by score)",
    )
    decode.add_argument(
        "--nms-iou", type=float, default=0.5, help="NMS drops a box overlapping a better one by more"
    )
    decode.add_argument(
        "--classes-per-box",
        type=int,
        default=5,
        help="each box is proposed for its k most probable classes, each scored p_c c_i (1: its best only)",
    )
    decode.add_argument("--max-detections", type=int, default=40, help="detections kept per image")
    decode.add_argument(
        "--images", type=int, default=6, help="dev canvases drawn with their boxes in TensorBoard"
    )
    decode.add_argument(
        "--draw-threshold", type=float, default=0.5, help="the score a detection needs to be drawn"
    )
    return parser


def check_flags(args) -> tuple[tuple[int, int], tuple[float, float]]:
    """Fails with one error line on a bad flag; returns the ranges of objects and scales, (low, high) each."""
    check_at_least(
        args, 1, "train_canvases", "dev_canvases", "test_canvases", "grid", "anchors", "width", "depth"
    )
    check_at_least(args, 1, "epochs", "batch_size", "train_eval_size", "max_detections", "classes_per_box")
    check_at_least(args, 0, "images")
    try:
        low, high = (int(v) for v in args.objects.split(","))
    except ValueError:
        low, high = -1, -1
    if not 0 <= low <= high or high < 1:
        fail(f"--objects must be 'low,high' with 0 <= low <= high and high >= 1; received {args.objects!r}")
    try:
        scale = tuple(float(v) for v in args.scale.split(","))
    except ValueError:
        scale = ()
    if len(scale) != 2 or not 0.1 <= scale[0] <= scale[1] or round(28 * scale[1]) > args.canvas_size:
        fail(
            f"--scale must be 'low,high' with 0.1 <= low <= high and 28 * high <= --canvas-size "
            f"{args.canvas_size}; received {args.scale!r}"
        )
    stride = args.canvas_size / args.grid
    if stride < 1 or stride != int(stride) or int(stride) & (int(stride) - 1):
        fail(
            f"--canvas-size / --grid must be a power of 2 (the network halves the image per stage); received "
            f"{args.canvas_size} / {args.grid}"
        )
    for flag in ("lambda_coord", "lambda_noobj"):
        if not getattr(args, flag) >= 0:
            fail(f"--{flag.replace('_', '-')} must be a number >= 0; received {getattr(args, flag)}")
    for flag in ("score_threshold", "nms_iou", "draw_threshold"):
        if not 0 <= getattr(args, flag) <= 1:
            fail(f"--{flag.replace('_', '-')} must be in [0, 1]; received {getattr(args, flag)}")
    if not args.learning_rate > 0:
        fail(f"--learning-rate must be a positive number; received {args.learning_rate}")
    return (low, high), scale


# -- data --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Canvases with their YOLO targets: what the evaluator scores (boxes) and the loss needs (targets)."""

    name: str
    data: DetectionSet
    targets: np.ndarray


@dataclass(frozen=True)
class DetectionData:
    splits: dict[str, Split]
    anchors: np.ndarray  # [A, 2] (h, w) in cells
    anchors_mean_iou: float
    dropped: dict[str, int]

    def report(self) -> str:
        lines = [
            f"{name}: {len(split.data):,} images, {int(split.data.counts.sum()):,} objects"
            + (
                f" ({self.dropped[name]} share a cell and anchor with another: not encoded)"
                if self.dropped[name]
                else ""
            )
            for name, split in self.splits.items()
        ]
        shapes = ", ".join(f"{h:.2f} x {w:.2f}" for h, w in self.anchors)
        return "\n".join(
            [*lines, f"anchors (h x w, in cells): {shapes}; mean IoU {self.anchors_mean_iou:.3f}"]
        )


def load_real_sets(args) -> dict[str, DetectionSet] | None:
    """A tfds dataset's three splits (None for the canvases); fails with one line when it is not there.

    Called before the run starts, as is `item_pool` for the canvases, so a
    missing source makes no run directory.
    """
    if args.source == "canvases":
        for split in ("train", "dev"):
            load_or_fail(item_pool, split, args.data_dir)
        return None
    if not args.source.startswith("tfds:"):
        fail(f"--source must be 'canvases' or 'tfds:<name>'; received {args.source!r}")
    name = args.source.removeprefix("tfds:")
    return {
        split: load_or_fail(
            tfds_detection, name, tfds_split, args.canvas_size, 8, args.data_dir, args.download
        )
        for split, tfds_split in TFDS_SPLITS.items()
    }


def prepare_data(args, ranges: tuple, real_sets: dict[str, DetectionSet] | None) -> DetectionData:
    """The three sets (canvases are made here), the k-means anchors of the training boxes, the targets."""
    sizes = {"train": args.train_canvases, "dev": args.dev_canvases, "test": args.test_canvases}
    sets = real_sets or {
        split: detection_canvases(
            split,
            count,
            args.seed,
            args.data_dir,
            canvas_size=args.canvas_size,
            objects=ranges[0],
            scale=ranges[1],
        )
        for split, count in sizes.items()
    }
    train = sets["train"]
    boxes = train.boxes[train.classes >= 0]
    if len(boxes) < args.anchors:
        fail(
            f"--anchors {args.anchors} needs at least as many training boxes; the training set has "
            f"{len(boxes)}"
        )
    shapes = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6) * args.grid  # (h, w) in cells
    anchors = kmeans_anchors(shapes, args.anchors, seed=args.seed)
    splits, dropped = {}, {}
    for name, data in sets.items():
        targets, dropped[name] = encode_targets(
            data.boxes, data.classes, args.grid, anchors, train.num_classes
        )
        splits[name] = Split(name, data, targets)
    return DetectionData(splits, anchors, mean_best_iou(shapes, anchors), dropped)


# -- model -------------------------------------------------------------------------------------------------


def build_model(args, channels: int, classes: int) -> keras.Model:
    """A Darknet-like stack of Conv-BN-LeakyReLU layers to the S x S grid, then A (5 + n) outputs per cell.

    The first convolution has stride 2 (the full-size image needs no more
    than --width cheap filters, and a stride halves the work after it); each
    later stage doubles the filters (at most 8 * width), runs --depth
    convolutions at its resolution (one at the first of them) and halves the
    image by max pooling, as YOLO's Darknet does. A last 3 x 3 convolution
    of 16 * width filters sees each cell's neighbourhood, and a 1 x 1
    convolution gives each cell its A vectors.
    """
    stages = int(np.log2(args.canvas_size // args.grid))  # halvings from the image to the grid
    inputs = keras.Input((args.canvas_size, args.canvas_size, channels), name="image")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inputs)

    def convolution(x, filters: int, name: str, strides: int = 1):
        x = keras.layers.Conv2D(
            filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return keras.layers.LeakyReLU(0.1, name=f"{name}_leaky_relu")(x)

    if stages:
        x = convolution(x, args.width, "stage1", strides=2)
    for k in range(1, stages):
        for layer in range(1 if k == 1 else args.depth):
            x = convolution(x, args.width * 2 ** min(k, 3), f"stage{k + 1}_{layer + 1}")
        x = keras.layers.MaxPooling2D(2, name=f"stage{k + 1}_pool")(x)
    x = convolution(x, args.width * 16, "cell")
    x = keras.layers.Conv2D(args.anchors * (5 + classes), 1, name="yolo")(x)
    outputs = keras.layers.Reshape((args.grid, args.grid, args.anchors, 5 + classes), name="grid")(x)
    return keras.Model(inputs, outputs, name="yolo")


def learning_rate(args, train_size: int):
    """Adam's learning rate: alpha, cosine-decayed to 0 over the run's steps with --cosine-decay.

    A pure function of the step, so a resumed run follows the same schedule.
    """
    if not args.cosine_decay:
        return args.learning_rate
    steps = args.epochs * -(-train_size // args.batch_size)
    return keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=steps)


# -- evaluation ----------------------------------------------------------------------------------------------


class DetectionEvaluator:
    """`evaluate(split)` for `EpochCurves`: "loss" (YOLO loss per image) and "accuracy" = mAP@0.5 (COCO 101).

    EpochCurves logs 1 - accuracy as "error"; `last` keeps each split's
    detections and both interpolations for the callbacks after it.
    """

    def __init__(self, model: keras.Model, loss: YoloLoss, anchors: np.ndarray, args):
        self.model, self.loss, self.anchors, self.args = model, loss, anchors, args
        self.last: dict[str, dict] = {}

    @property
    def optimizer(self):
        return self.model.optimizer

    def detections(self, images: np.ndarray):
        outputs = self.model.predict(images, batch_size=PREDICT_BATCH, verbose=0)
        found = detect(
            outputs,
            self.anchors,
            self.args.score_threshold,
            self.args.nms_iou,
            self.args.max_detections,
            classes_per_box=self.args.classes_per_box,
        )
        return outputs, [keras.ops.convert_to_numpy(part) for part in found]

    def evaluate(self, split: Split) -> dict:
        outputs, (boxes, scores, classes, valid) = self.detections(split.data.images)
        data = split.data
        coco = mean_average_precision(data.boxes, data.classes, boxes, scores, classes, valid)
        voc = mean_average_precision(
            data.boxes, data.classes, boxes, scores, classes, valid, interpolation="voc_all_points"
        )
        loss = float(keras.ops.convert_to_numpy(self.loss(split.targets, outputs)))
        self.last[split.name] = {"coco": coco, "voc": voc, "detections": (boxes, scores, classes, valid)}
        return {"loss": loss, "accuracy": coco.mean_ap}


COLOURS = {"object": (0, 200, 0), "detection": (230, 40, 40)}


def draw_detections(
    data: DetectionSet, detections, count: int, threshold: float, scale: int = 3
) -> np.ndarray:
    """The first `count` images, `scale` times larger, objects in green, detections above `threshold` in red.

    Returns:
        uint8 [count, H * scale, W * scale, 3], for `tf.summary.image`.
    """
    boxes, scores, classes, valid = detections
    pictures = []
    for i in range(min(count, len(data))):
        image = data.images[i]
        picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).convert("RGB")
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        draw = ImageDraw.Draw(picture)
        size = np.array([picture.height, picture.width] * 2)
        for box in data.objects(i)[0]:
            y_min, x_min, y_max, x_max = box * size
            draw.rectangle([x_min, y_min, x_max, y_max], outline=COLOURS["object"], width=1)
        for box, score, c, ok in zip(boxes[i], scores[i], classes[i], valid[i], strict=True):
            if ok and score > threshold:
                y_min, x_min, y_max, x_max = np.clip(box, 0, 1) * size
                draw.rectangle([x_min, y_min, x_max, y_max], outline=COLOURS["detection"], width=2)
                draw.text(
                    (x_min + 2, y_min + 1), f"{data.class_names[c]} {score:.2f}", fill=COLOURS["detection"]
                )
        pictures.append(np.asarray(picture))
    return np.stack(pictures)


class DetectionScalars(keras.callbacks.Callback):
    """After `EpochCurves`: "map50" and "map50_voc" of each evaluated split, and the dev detections drawn.

    Put it between `EpochCurves` and the resume callbacks, so its points are
    saved before the epoch's backup.
    """

    def __init__(self, run: Run, evaluator: DetectionEvaluator, dev: Split, args):
        super().__init__()
        self.run, self.evaluator, self.dev, self.args = run, evaluator, dev, args

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        log_map(self.run.curves, self.evaluator.last, step)
        self.run.curves.save()
        if self.args.images and "dev" in self.evaluator.last:
            pictures = draw_detections(
                self.dev.data,
                self.evaluator.last["dev"]["detections"],
                self.args.images,
                self.args.draw_threshold,
            )
            with self.run.writer("detections").as_default():
                tf.summary.image("detections", pictures, step=step, max_outputs=len(pictures))


def log_map(curves: CurveLog, results: dict[str, dict], step: int) -> None:
    for split, result in results.items():
        curves.log(f"{PREFIX}/{split}", "map50", step, result["coco"].mean_ap)
        curves.log(f"{PREFIX}/{split}", "map50_voc", step, result["voc"].mean_ap)


def evaluate_test(run: Run, evaluator: DetectionEvaluator, test: Split, step: int) -> dict:
    """mAP@0.5 of the test canvases, once, at the end: logged as run yolo/test beside the curves."""
    results = evaluator.evaluate(test)
    run.curves.log(f"{PREFIX}/test", "loss", step, results["loss"])
    run.curves.log(f"{PREFIX}/test", "error", step, 1 - results["accuracy"])
    log_map(run.curves, {"test": evaluator.last["test"]}, step)
    run.curves.save()
    coco, voc = evaluator.last["test"]["coco"], evaluator.last["test"]["voc"]
    return {
        "map50": coco.mean_ap,
        "map50_voc": voc.mean_ap,
        "per_class": {str(c): ap for c, ap in coco.per_class.items()},
        "per_class_voc": {str(c): ap for c, ap in voc.per_class.items()},
        "objects": {str(c): curve.objects for c, curve in coco.curves.items()},
    }


def summary_text(
    args,
    data: DetectionData,
    test: dict,
    dev_map: float,
    train_seconds: float,
    train_cpu_seconds: float,
    parameters: int,
) -> str:
    names = data.splits["train"].data.class_names
    lines = [
        f"# YOLO on {args.source}: {args.grid} x {args.grid} grid, {args.anchors} anchors, "
        f"{parameters:,} parameters",
        "",
        *(f"- {line}" for line in data.report().split("\n")),
        "",
        "| class | test objects | AP@0.5 (COCO 101) | AP@0.5 (VOC all points) |",
        "|---|---:|---:|---:|",
    ]
    for c, ap in test["per_class"].items():
        lines.append(
            f"| {names[int(c)]} | {test['objects'][c]} | {ap:.3f} | {test['per_class_voc'][c]:.3f} |"
        )
    lines += [
        f"| **mAP** | {sum(test['objects'].values())} | **{test['map50']:.3f}** "
        f"| **{test['map50_voc']:.3f}** |",
        "",
        f"Dev mAP@0.5 after the last epoch: {dev_map:.3f}.",
        f"Training: {args.epochs} epochs of {args.train_canvases:,} canvases, batches of {args.batch_size}, "
        f"Adam at "
        f"{args.learning_rate}; loss {args.loss}, lambda_coord {args.lambda_coord}, lambda_noobj "
        f"{args.lambda_noobj}, sqrt sizes {args.sqrt_sizes}; {train_seconds:.0f} s "
        f"({train_cpu_seconds:.0f} CPU seconds).",
        f"Detections: {args.classes_per_box} classes per box, score threshold {args.score_threshold}, "
        f"NMS IoU {args.nms_iou}, at most {args.max_detections} per image.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    ranges = check_flags(args)
    real_sets = load_real_sets(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    data = prepare_data(args, ranges, real_sets)
    print(f"Run directory: {run.dir}\n{data.report()}", flush=True)
    run.save_json("data.json", {"anchors": data.anchors.tolist(), "anchors_mean_iou": data.anchors_mean_iou,
                                "dropped": data.dropped})  # fmt: skip
    train = data.splits["train"]
    keras.utils.set_random_seed(args.seed)
    loss = YoloLoss(data.anchors, args.lambda_coord, args.lambda_noobj, args.sqrt_sizes, form=args.loss)
    with make_strategy(args.strategy, batch_size=args.batch_size).scope():
        model = build_model(args, train.data.images.shape[-1], train.data.num_classes)
        # XLA (jit_compile) makes these small convolutions slower on a 2-core CPU (kerasdl.nn.recipes).
        model.compile(keras.optimizers.Adam(learning_rate(args, len(train.data))), loss, jit_compile=False)
    evaluator = DetectionEvaluator(model, loss, data.anchors, args)
    size = min(args.train_eval_size, len(train.data))
    train_eval = Split("train", train.data.take(np.arange(size)), train.targets[:size])
    curves = EpochCurves(run.curves, {"train": train_eval, "dev": data.splits["dev"]}, prefix=PREFIX,
                         gap_splits=("train", "dev"), evaluator=evaluator)  # fmt: skip
    batches = shuffled_batches(train.data.images, train.targets, args.batch_size, args.seed)
    cpu_start = time.process_time()  # every thread of this process: the CPU work, whatever the load
    with run.phase("train"):
        model.fit(
            batches,
            epochs=args.epochs,
            # Last: a backup follows the epoch's points, so --resume neither skips nor repeats one.
            callbacks=[
                curves,
                DetectionScalars(run, evaluator, data.splits["dev"], args),
                *run.resume_callbacks(batches),
            ],  # fmt: skip
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    train_cpu_seconds = time.process_time() - cpu_start  # of this process only, when resumed
    test = run.once("test", evaluate_test, run, evaluator, data.splits["test"], args.epochs)
    dev_map = run.curves.values(f"{PREFIX}/dev", "map50")[-1]
    train_seconds = run.phases.seconds("train") or 0.0
    summary = summary_text(args, data, test, dev_map, train_seconds, train_cpu_seconds, model.count_params())
    run.finish(
        metrics={
            "dev_map50": dev_map,
            "test_map50": test["map50"],
            "test_map50_voc": test["map50_voc"],
            "anchors_mean_iou": data.anchors_mean_iou,
            "dropped_objects": data.dropped["train"],
            "train_seconds": train_seconds,
            "train_cpu_seconds": train_cpu_seconds,
            "parameters": model.count_params(),
        },
        details={"anchors": data.anchors.tolist(), "test": test, "dropped": data.dropped},
        summary=summary,
        step=args.epochs,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
