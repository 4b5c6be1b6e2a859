"""Edge detection: the lesson's hand-made kernels on real Fashion-MNIST images.

Course 4, Week 1 ("Edge detection example", "More edge detection"). The
vertical-edge kernel [[1, 0, -1]] * 3 rows, its horizontal transpose, and
the Sobel and Scharr variants (more weight on the centre row) are convolved
with real images by the NumPy convolution of `kerasdl.scratch.conv`; the same
kernels loaded into a `keras.layers.Conv2D` give the same maps (printed as
the largest difference), which is the lesson's point: a convolutional
layer *learns* such kernels as its weights.

Run:
    python -m experiments.edges                    # a few seconds
    python -m experiments.edges --images 8 --same
    tensorboard --logdir logs/edges

In TensorBoard (Images): "input" holds the chosen test images (one per
class); "edges/<kernel>" the response maps, mid-grey = 0, white = strong
bright-to-dark edge, black = dark-to-bright (for the vertical kernels,
bright on the left of the edge). Text "kernels" lists the kernels, Text
"summary" what was logged. The largest difference between the NumPy and the
Keras maps of each kernel is the metric "keras_conv2d_max_difference/<kernel>"
of the run's results.json (and a scalar of that name at step 0).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness import cli
from kerasdl.harness.run import Run, start_run
from kerasdl.scratch.edges import KERNEL_NAMES, detect_edges, edge_kernel
from pipelines.sources import fashion_mnist

EXPERIMENT = "edges"


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    parser.add_argument("--images", type=int, default=10, help="test images to filter, one per class in turn")
    parser.add_argument("--same", action="store_true", help="'same' padding (p=1) instead of 'valid' (p=0)")
    cli.add_data_dir_flag(parser)
    return parser


def to_grey(maps: np.ndarray) -> np.ndarray:
    """Signed response maps [N, H, W] -> images [N, H, W, 1] in [0, 1], 0 at mid-grey, one scale for all."""
    scale = max(float(np.abs(maps).max()), 1e-12)
    return (0.5 + 0.5 * maps / scale)[..., None].astype("float32")


def log_edges(run: Run, images: np.ndarray, class_names: list[str], same: bool) -> dict[str, float]:
    """Logs the images and each kernel's response maps; returns |Keras - NumPy| per kernel."""
    differences = {}
    with run.writer("").as_default():
        tf.summary.image("input", images[..., None] / 255.0, step=0, max_outputs=len(images))
        tf.summary.text("classes", ", ".join(class_names), step=0)
        table = "\n\n".join(
            f"**{name}**\n\n    {edge_kernel(name).astype(int).tolist()}" for name in KERNEL_NAMES
        )
        tf.summary.text("kernels", table, step=0)
        progress = keras.utils.Progbar(len(KERNEL_NAMES), unit_name="kernel")
        for name in KERNEL_NAMES:
            maps = np.stack([detect_edges(image, name, same=same) for image in images])
            # The same kernel as the weights of a Keras Conv2D layer.
            layer = keras.layers.Conv2D(1, 3, padding="same" if same else "valid", use_bias=False)
            layer.build((None, 28, 28, 1))
            layer.set_weights([edge_kernel(name)[:, :, None, None].astype("float32")])
            keras_maps = layer(images[..., None].astype("float32")).numpy()[..., 0]
            differences[name] = float(np.abs(keras_maps - maps).max())
            tf.summary.image(f"edges/{name}", to_grey(maps), step=0, max_outputs=len(images))
            tf.summary.scalar(f"keras_conv2d_max_difference/{name}", differences[name], step=0)
            progress.add(1, values=[("max |keras - numpy|", differences[name])])
    return differences


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_at_least(args, 1, "images")
    test = cli.load_or_fail(fashion_mnist, "test", data_dir=args.data_dir)
    # One image per class, in class order, then the next image of each class.
    firsts = [np.flatnonzero(test.labels == c) for c in range(10)]
    chosen = [firsts[i % 10][i // 10] for i in range(args.images)]
    images = test.images[chosen, :, :, 0].astype(np.float64)
    class_names = [test.class_names[test.labels[i]] for i in chosen]

    run = start_run(EXPERIMENT, vars(args))
    differences = run.once("edges", log_edges, run, images, class_names, args.same)
    padding = "same (p=1)" if args.same else "valid (p=0)"
    lines = [f"| {name} | {difference:.2e} |" for name, difference in differences.items()]
    summary = "\n".join(
        [
            f"# Edge detection: {args.images} test images, {len(KERNEL_NAMES)} kernels, {padding} padding",
            "",
            "Images: `input` (the test images) and `edges/<kernel>` (the response maps, mid-grey = 0).",
            "Text: `kernels` (the kernels) and `classes` (the images' classes).",
            "",
            "| kernel | max abs(Keras Conv2D - NumPy) |",
            "|---|---:|",
            *lines,
        ]
    )
    run.finish(
        metrics={f"keras_conv2d_max_difference/{name}": value for name, value in differences.items()},
        details={
            "classes": class_names,
            "padding": "same" if args.same else "valid",
            "kernels": {name: edge_kernel(name).tolist() for name in KERNEL_NAMES},
            "logged": {
                "images": ["input", *(f"edges/{name}" for name in KERNEL_NAMES)],
                "text": ["classes", "kernels", "summary"],
            },
        },
        summary=summary,
    )
    print(f"Logged {args.images} images x {len(KERNEL_NAMES)} kernels to {run.dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
