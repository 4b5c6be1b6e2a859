"""Neural style transfer: gradient descent on an image's pixels, J = alpha J_content + beta J_style.

Course 4, Week 4: "What is neural style transfer?", "Cost function",
"Content cost function", "Style cost function" (Gatys, Ecker and Bethge,
2015). The generated image G starts as the content image C plus uniform
noise and Adam changes its pixels (clipped to [0, 1] after each step) to
lower J(G) = alpha J_content(C, G) + beta J_style(S, G) (+ an optional total
variation term), the costs of `kerasdl.nn.style`: J_content compares the
activations of C and G at one layer; J_style compares their Gram matrices
(which channels fire together) at several layers, weighted by lambda_l.

Images, offline: scikit-image 0.25.2's wheel ships sample images;
`make data` (scripts/install_pypi_data.py) unpacks six of them into
~/.cache/kerasdl/scikit-image-0.25.2/ without installing scikit-image,
checked against scikit-image's SHA-256 list. Content photos: "chelsea"
(a cat, 451 x 300; CC0, Stefan van der Walt), "astronaut" (Eileen Collins,
512 x 512; NASA, public domain), "coffee" (600 x 400; CC0, Rachel
Michetti). Style textures, grey, 512 x 512: "gravel", "brick" (CC0, from
CC0Textures), "grass" (CC0, from DeviantArt). Any other image file:
`--content PATH`, `--style PATH`. Each image is cropped to its centre
square and resized to `--size`.

The feature network, offline by default: `--network multiscale` (the
default) is one layer of random convolutions at four scales, 3x3 to 11x11
(`kerasdl.nn.style.random_multiscale_features`; Ustyuzhaninov et al.,
"What does it take to generate natural textures?", ICLR 2017): random
filters need no download, and their Gram matrices still capture texture.
`--network vgg19` is VGG-19's convolutional base, the lesson's network:
with random, fixed weights unless `--weights PATH` names a local file of
`keras.applications.VGG19` weights (e.g. vgg19_weights_tf_dim_ordering_
tf_kernels_notop.h5, which Keras keeps in ~/.keras/models/ after a
download) or `--download` lets Keras fetch the ImageNet weights (network).
Pretrained VGG-19 gives better pictures (content and style in one image,
strokes along edges); random features give textured, noisier ones.

Run:
    python -m experiments.style_transfer                          # chelsea in gravel, 256 px
    python -m experiments.style_transfer --content astronaut --style brick
    python -m experiments.style_transfer --content my.jpg --style painting.jpg --steps 300
    python -m experiments.style_transfer --network vgg19 --weights ~/.keras/models/vgg19_..._notop.h5
    python -m experiments.style_transfer --resume --steps 200     # continue a run for more steps
    tensorboard --logdir logs/style_transfer

In TensorBoard: Scalars "content_cost", "style_cost", "total_cost" (and
"total_variation" with --tv-weight) of run "costs", at every step (step s
is G after s updates); Images "content_style_generated": C, S and G side by
side, every --image-every steps; Text "summary": the costs before and
after, the style cost's reduction, and J_content(C, S) beside J_content(C,
G) (how far the style image itself is from C's content, a yardstick for
"bounded"). `results.json` has the metrics initial/final_style_cost,
style_reduction, initial/final_content_cost, content_cost_of_style_image
and optimize_seconds; `generated.png` is G at the end.
"""

from __future__ import annotations

import math
import resource
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness.cli import experiment_parser, fail
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.style import (
    MULTISCALE_CONTENT_LAYER,
    MULTISCALE_STYLE_LAYERS,
    VGG19_CONTENT_LAYER,
    VGG19_STYLE_LAYERS,
    StyleTransfer,
    dummy_inputs,
    random_multiscale_features,
    vgg19_features,
)
from kerasdl.training.io import atomic_write_bytes
from pipelines.sources import data_home

EXPERIMENT = "style_transfer"
SKIMAGE_DIR = "scikit-image-0.25.2"  # under data_home(), filled by scripts/install_pypi_data.py
IMAGES = ("chelsea", "astronaut", "coffee", "gravel", "brick", "grass")
SAFE_TO_CHANGE = {"steps"}  # a resumed run may go on for more steps (Adam's learning rate is constant)
COSTS = "costs"  # the TensorBoard run of the cost curves

DESCRIPTION = """\
Neural style transfer (Course 4, Week 4): Adam on the pixels of a generated
image G, started at the content image C plus noise, lowering
J(G) = alpha J_content(C, G) + beta J_style(S, G) (+ gamma TV(G)).

J_content = 1/(4 n_H n_W n_C) sum (a(C) - a(G))^2 at --content-layer;
J_style = sum_l lambda_l J_style[l], with J_style[l] = 1/(2 n_H n_W n_C)^2
sum (Gram(S) - Gram(G))^2 at each layer of --style-layers (Gram = A A^T of
the activations unrolled to n_C x n_H n_W). alpha weighs keeping C's
content, beta taking on S's style: a larger beta/alpha gives more texture
and less of C. Adam's steps do not change when J is scaled, so only the
ratios alpha : beta : gamma matter.
lambda_l chooses the scale of the style: early layers see fine grain, late
or large-kernel layers larger patterns.

Offline by default: the images are scikit-image's samples (`make data`),
the features a random multi-scale convolution layer (random filters
capture texture, not objects). Pretrained VGG-19 gives better pictures:
--download lets Keras fetch its ImageNet weights once (network) into
~/.keras/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5; on a
machine without network, copy that file over and pass --weights PATH.
--resume continues an interrupted run; --resume --steps N extends one.
"""


def build_parser():
    parser = experiment_parser(EXPERIMENT, DESCRIPTION)
    images = parser.add_argument_group("images")
    images.add_argument(
        "--content", default="chelsea", help=f"content image C: one of {IMAGES} or the path of an image file"
    )
    images.add_argument(
        "--style", default="gravel", help=f"style image S: one of {IMAGES} or the path of an image file"
    )
    images.add_argument("--size", type=int, default=256, help="C, S and G are SIZE x SIZE pixels")
    network = parser.add_argument_group("feature network")
    network.add_argument(
        "--network",
        choices=("multiscale", "vgg19"),
        default=None,
        help="multiscale: one layer of random 3x3..11x11 convolutions (offline); vgg19: VGG-19's "
        "convolutional base, random unless --weights or --download; when not given: vgg19 with "
        "--weights or --download, else multiscale",
    )
    network.add_argument(
        "--filters", type=int, default=128, help="multiscale: random filters per kernel size"
    )
    network.add_argument(
        "--weights",
        default=None,
        help="vgg19: a local keras.applications.VGG19 weights file (.h5, .weights.h5 or .keras)",
    )
    network.add_argument(
        "--download",
        action="store_true",
        help="vgg19: let Keras download the ImageNet weights into ~/.keras/models (network)",
    )
    network.add_argument(
        "--content-layer",
        default=None,
        help=f"the layer of J_content; when not given: {MULTISCALE_CONTENT_LAYER} for multiscale, "
        f"{VGG19_CONTENT_LAYER} for vgg19 (a middle layer)",
    )
    network.add_argument(
        "--style-layers",
        default=None,
        help="comma-separated layer:lambda pairs of J_style; when not given: "
        f"{format_layers(MULTISCALE_STYLE_LAYERS)} for multiscale, {format_layers(VGG19_STYLE_LAYERS)} "
        "for vgg19 (the assignment's)",
    )
    cost = parser.add_argument_group("cost and optimisation")
    cost.add_argument("--alpha", type=float, default=10.0, help="alpha, the weight of J_content")
    cost.add_argument("--beta", type=float, default=1.0, help="beta, the weight of J_style")
    cost.add_argument(
        "--tv-weight",
        type=float,
        default=0.0,
        help="gamma, the weight of the total variation (mean absolute difference of neighbouring "
        "pixels), which smooths G; 0 is the lesson's J",
    )
    cost.add_argument(
        "--noise", type=float, default=0.25, help="G starts as C plus uniform noise in [-noise, noise]"
    )
    cost.add_argument("--learning-rate", type=float, default=0.02, help="Adam's learning rate on the pixels")
    cost.add_argument("--steps", type=int, default=100, help="Adam steps on G")
    cost.add_argument(
        "--image-every",
        type=int,
        default=10,
        help="log G to TensorBoard (and back the run up) every N steps; --steps must be a multiple",
    )
    return parser


def format_layers(layers: dict[str, float]) -> str:
    return ",".join(f"{name}:{weight:g}" for name, weight in layers.items())


def parse_layers(text: str) -> dict[str, float]:
    """{"name": weight} from "name:weight,..."; `fail`s on a malformed pair or a negative weight."""
    layers = {}
    for pair in (p.strip() for p in text.split(",") if p.strip()):
        name, _, weight = pair.partition(":")
        try:
            layers[name.strip()] = float(weight)
        except ValueError:
            fail(f"--style-layers must be comma-separated layer:weight pairs; received {text!r}")
        if not (math.isfinite(layers[name.strip()]) and layers[name.strip()] >= 0):
            fail(f"--style-layers weights must be numbers >= 0; received {text!r}")
    if not layers:
        fail(f"--style-layers must name at least one layer:weight pair; received {text!r}")
    return layers


def check_flags(args) -> None:
    """Fails with one error line on a bad flag; resolves --network."""
    for flag in ("size", "filters", "steps", "image_every"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    if args.size < 32:
        fail(f"--size must be at least 32 pixels; received {args.size}")
    if args.steps % args.image_every:
        fail(f"--steps must be a multiple of --image-every ({args.image_every}); received {args.steps}")
    for flag in ("alpha", "beta", "tv_weight", "noise"):
        value = getattr(args, flag)
        if not (math.isfinite(value) and value >= 0):
            fail(f"--{flag.replace('_', '-')} must be a number >= 0; received {value}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        fail(f"--learning-rate must be a positive number; received {args.learning_rate}")
    if args.strategy != "auto" or args.mixed_precision:
        flag = "--mixed-precision" if args.mixed_precision else f"--strategy {args.strategy}"
        fail(f"style transfer optimises one image on the default device in float32; received {flag}")
    pretrained = args.weights is not None or args.download
    if args.weights is not None and args.download:
        fail("--weights and --download exclude each other (a local file, or Keras' download); received both")
    if args.network == "multiscale" and pretrained:
        fail("--weights and --download are VGG-19's weights; use them with --network vgg19 (or no --network)")
    if args.network is None:
        args.network = "vgg19" if pretrained else "multiscale"


# -- images ------------------------------------------------------------------------------------------


def image_path(spec: str, flag: str) -> Path:
    """The file of a sample image's name or of a path; `fail`s with how to get it when it is missing."""
    if spec in IMAGES:
        path = data_home() / SKIMAGE_DIR / f"{spec}.png"
        if not path.is_file():
            fail(
                f"{flag} {spec}: scikit-image's sample image is not on this machine ({path} is missing). "
                "Run `make data` (scripts/install_pypi_data.py unpacks it from the scikit-image 0.25.2 "
                f"wheel; it needs the package index once), or pass an image file with {flag} PATH"
            )
        return path
    path = Path(spec).expanduser()
    if not path.is_file():
        fail(f"{flag} must be one of {IMAGES} or the path of an image file; received {spec!r} (no such file)")
    return path


def load_image(spec: str, size: int, flag: str) -> np.ndarray:
    """The image, its centre square resized to size x size, RGB float32 in [0, 1] (grey becomes RGB)."""
    path = image_path(spec, flag)
    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
        fail(f"{flag} {spec}: TensorFlow cannot decode {path} (use a PNG, JPEG, GIF or BMP file)")
    height, width = int(image.shape[0]), int(image.shape[1])
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = tf.image.convert_image_dtype(image[top : top + side, left : left + side], tf.float32)
    resized = tf.image.resize(square, (size, size), method="area" if side > size else "bilinear")
    return np.clip(resized.numpy(), 0.0, 1.0).astype("float32")


# -- the feature network -----------------------------------------------------------------------------


def feature_network(args) -> tuple[keras.Model, str, dict[str, float]]:
    """(network, content layer, style layers) for the flags; `fail`s with one line when it cannot be built."""
    if args.network == "multiscale":
        network = random_multiscale_features(args.filters, seed=args.seed)
        content_layer, style_layers = MULTISCALE_CONTENT_LAYER, MULTISCALE_STYLE_LAYERS
    else:
        content_layer, style_layers = VGG19_CONTENT_LAYER, VGG19_STYLE_LAYERS
        if args.weights is not None and not Path(args.weights).expanduser().is_file():
            fail(
                f"--weights {args.weights}: no such file. Give a local keras.applications.VGG19 weights "
                "file (Keras keeps vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 in ~/.keras/models/ "
                "after a download), or use --download with network access"
            )
        weights = (
            str(Path(args.weights).expanduser()) if args.weights else "imagenet" if args.download else None
        )
        try:
            network = vgg19_features(weights, seed=args.seed)
        except ValueError as error:
            fail(f"--weights {args.weights}: {error}")
        except Exception as error:  # Keras' download: URL, SSL or HTTP errors, whatever the network says
            if not args.download:
                raise
            reason = " ".join(str(error).split())[:200]
            fail(
                f"--download: Keras could not fetch VGG-19's ImageNet weights ({reason}). Without network: "
                "copy vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 from a machine where Keras fetched "
                "it (~/.keras/models/) and pass it with --weights PATH"
            )
    if args.content_layer:
        content_layer = args.content_layer
    if args.style_layers:
        style_layers = parse_layers(args.style_layers)
    known = {layer.name for layer in network.layers}
    for name in [content_layer, *style_layers]:
        if name not in known:
            fail(f"{network.name} has no layer {name!r}; its layers: {', '.join(sorted(known))}")
    return network, content_layer, style_layers


# -- logging -----------------------------------------------------------------------------------------


def tile(*images: np.ndarray) -> np.ndarray:
    """Images [H, W, 3] in [0, 1] side by side, as one uint8 image [1, H, total W, 3]."""
    row = np.concatenate([np.clip(image, 0, 1) for image in images], axis=1)
    return (row[None] * 255).round().astype("uint8")


def log_picture(run: Run, content, style, generated, step: int) -> None:
    with run.writer("images").as_default():
        tf.summary.image("content_style_generated", tile(content, style, generated), step=step)


def log_costs(run: Run, costs: dict, step: int, tv: bool) -> None:
    for name in ("content_cost", "style_cost", "total_cost", *(("total_variation",) if tv else ())):
        run.curves.log(COSTS, name, step, float(costs[name]))


class StepCosts(keras.callbacks.Callback):
    """Logs the costs of every step (G before the step's update) and, each epoch, the picture.

    Epoch e holds updates e N + 1 .. (e + 1) N; its batch b reports J of G
    after e N + b updates, logged at step e N + b. The points are saved with
    each batch, so a stop loses none; the steps a resumed run trains again
    (after the last backup) are written again, with the same step. Put this
    callback before the resume callbacks.
    """

    def __init__(self, run: Run, content, style, steps_per_epoch: int, tv: bool):
        super().__init__()
        self.run, self.content, self.style = run, content, style
        self.steps_per_epoch, self.tv = steps_per_epoch, tv
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        log_costs(self.run, logs, self.epoch * self.steps_per_epoch + batch, self.tv)
        self.run.curves.save()

    def on_epoch_end(self, epoch, logs=None):
        generated = self.model.generated_image()
        log_picture(self.run, self.content, self.style, generated, (epoch + 1) * self.steps_per_epoch)


def measure_start(run: Run, model: StyleTransfer, content, style) -> dict:
    """J of G at step 0, the style cost of C itself and J_content(C, S); logs C, S and G at step 0.

    (The costs at step 0 are logged by the first step of `fit`, which reports J of G before its update.)
    """
    start = {name: float(value) for name, value in model.costs().items()}
    log_picture(run, content, style, model.generated_image(), 0)
    return {
        **start,
        "content_image_style_cost": float(model.costs(content[None])["style_cost"]),
        "content_cost_of_style_image": float(model.costs(style[None])["content_cost"]),
    }


def measure_end(run: Run, model: StyleTransfer, steps: int, tv: bool) -> dict:
    """J of G after the last step, logged at step `steps`; the unweighted style cost of each layer."""
    end = {name: float(value) for name, value in model.costs().items()}
    log_costs(run, end, steps, tv)
    run.curves.save()
    return {**end, "layer_style_costs": model.layer_style_costs()}


def summary_text(args, start: dict, end: dict, content_layer, style_layers, seconds, cpu_seconds) -> str:
    reduction = start["style_cost"] / max(end["style_cost"], 1e-30)
    lines = [
        f"# Style transfer: {args.content} in the style of {args.style}, {args.size} px",
        "",
        f"Network {args.network}; J_content at {content_layer}; J_style over {format_layers(style_layers)}; "
        f"alpha {args.alpha:g}, beta {args.beta:g}, gamma {args.tv_weight:g}; Adam {args.learning_rate:g}, "
        f"{args.steps} steps.",
        "",
        "| cost | G at step 0 (C + noise) | G at the end |",
        "|---|---:|---:|",
        f"| J_style(S, G) | {start['style_cost']:.4g} | {end['style_cost']:.4g} |",
        f"| J_content(C, G) | {start['content_cost']:.4g} | {end['content_cost']:.4g} |",
        f"| J(G) | {start['total_cost']:.4g} | {end['total_cost']:.4g} |",
        "",
        f"- style cost reduced {reduction:.1f}-fold; C itself has J_style(S, C) = "
        f"{start['content_image_style_cost']:.4g}",
        f"- content cost at the end {end['content_cost']:.4g}; the style image has J_content(C, S) = "
        f"{start['content_cost_of_style_image']:.4g}",
        f"- optimisation: {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU (this session)",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    check_flags(args)
    content = load_image(args.content, args.size, "--content")
    style = load_image(args.style, args.size, "--style")
    network, content_layer, style_layers = feature_network(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(f"Run directory: {run.dir}", flush=True)
    model = StyleTransfer(
        network, content, style, content_layer=content_layer, style_layers=style_layers,
        alpha=args.alpha, beta=args.beta, total_variation_weight=args.tv_weight,
        noise=args.noise, seed=args.seed,
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    tv = args.tv_weight > 0
    start = run.once("start", measure_start, run, model, content, style)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    with run.phase("optimize"):
        model.fit(
            dummy_inputs(args.image_every),
            batch_size=1,
            epochs=args.steps // args.image_every,
            callbacks=[StepCosts(run, content, style, args.image_every, tv), *run.resume_callbacks()],
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    end = measure_end(run, model, args.steps, tv)
    seconds = run.phases.seconds("optimize") or 0.0
    summary = summary_text(args, start, end, content_layer, style_layers, seconds, cpu_seconds)
    atomic_write_bytes(run.dir / "generated.png", tf.io.encode_png(tile(model.generated_image())[0]).numpy())
    run.finish(
        metrics={
            "initial_style_cost": start["style_cost"],
            "final_style_cost": end["style_cost"],
            "style_reduction": start["style_cost"] / max(end["style_cost"], 1e-30),
            "initial_content_cost": start["content_cost"],
            "final_content_cost": end["content_cost"],
            "content_cost_of_style_image": start["content_cost_of_style_image"],
            "content_image_style_cost": start["content_image_style_cost"],
            "initial_total_cost": start["total_cost"],
            "final_total_cost": end["total_cost"],
            "optimize_seconds": seconds,
            "optimize_cpu_seconds": cpu_seconds,
        },
        details={
            "layer_style_costs": end["layer_style_costs"],
            "content_layer": content_layer,
            "style_layers": style_layers,
        },
        summary=summary,
        step=args.steps,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
