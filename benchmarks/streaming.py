"""A folder bigger than memory: one epoch streamed from disk against the same epoch with the images in memory.

`pipelines.sources.image_folder` streams a folder whose decoded pixels
exceed the memory budget (`pipelines.streaming`): batches are read in
tf.data's parallel map, by decoding their JPEG files or from the decoded
cache. This script measures what that costs.

Data: `--images` Fashion-MNIST items (Debian's offline files), enlarged to
`--size` pixels, tinted at random and saved as JPEG (quality 90) in one
folder per class, generated once into `--folder` (about a minute; kept for
later runs).

Three sides, each training the same CNN for 96-pixel inputs (three
stride-2 Conv-BN-ReLU stages of 16, 32 and 64 filters, global average
pooling, softmax; Adam 2e-3, batch 128, standardized inputs) on the same
images in the same batch order:

- in_memory: the folder read into memory (what fits today);
- streamed: `memory_budget=0`, every batch decoded from its JPEG files;
- streamed_cached: the same with `cache_dir`: the decoding pass writes the
  pixels once, and batches are read from that file.

Figures:

- *_peak_rss_gb: VmHWM of a fresh process that loads the side (listing,
  decoding pass, normalization pass) and trains one epoch, one process per
  side so each peak is its own (goal for the streamed sides: below 1.5 GB);
- *_load_seconds: that loading, in that process;
- *_epoch_seconds and *_epoch_ratio (side / in_memory, goal <= 1.15): from
  one process holding all three sides, one model each, timing their epochs
  in alternating order (`kerasdl.training.benchmarking`; a warm-up epoch
  each first, then `--repeats` timed epochs each) so that the load of a
  shared machine falls on every side alike; the ratio is the median of the
  per-round ratios.

Run:
    python benchmarks/streaming.py                       # 50,000 images at 96x96: about 15 minutes
    python benchmarks/streaming.py --images 5000         # a quick look

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

SIDES = ("in_memory", "streamed", "streamed_cached")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=50_000, help="JPEG files in the folder")
    parser.add_argument("--size", type=int, default=96, help="side of each picture in pixels")
    parser.add_argument(
        "--folder",
        default=os.path.join(tempfile.gettempdir(), "kerasdl-streaming-benchmark"),
        help="where the generated folder is kept (made when missing or of another size)",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed epochs of each side, alternating, after a warm-up"
    )
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # one side, in a child process
    return parser


def generate(folder: Path, count: int, size: int) -> None:
    """`count` Fashion-MNIST items as tinted `size` x `size` JPEGs in one folder per class."""
    from PIL import Image

    from pipelines.sources import FASHION_MNIST_CLASSES, fashion_mnist

    stamp = folder.with_name(folder.name + ".json")  # beside the folder: inside, it would be a file to skip
    made = {"images": count, "size": size, "tint": "per picture"}
    if stamp.exists() and json.loads(stamp.read_text()) == made:
        return
    if folder.exists():
        shutil.rmtree(folder)  # made for another count or size
    source = fashion_mnist("all")
    if count > len(source):
        raise SystemExit(f"--images must be at most {len(source)} (Fashion-MNIST's size). Received: {count}")
    tints = np.random.default_rng(0).uniform(0.4, 1.0, (count, 3))  # per picture: colour tells no class
    names = [name.replace("/", "-") for name in FASHION_MNIST_CLASSES]
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)

    def save(index: int) -> None:
        label = int(source.labels[index])
        grey = Image.fromarray(source.images[index, :, :, 0]).resize((size, size), Image.BILINEAR)
        rgb = (np.asarray(grey, np.float32)[..., None] * tints[index]).astype(np.uint8)
        Image.fromarray(rgb).save(folder / names[label] / f"{index:05d}.jpg", quality=90)

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(save, range(count)))
    stamp.write_text(json.dumps(made))
    print(
        f"generated {count} JPEG files in {folder} in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )


def peak_rss_bytes() -> int:
    """VmHWM: the most resident memory this process has held."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def build_model(input_shape, num_classes: int):
    import keras

    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    return model


def load_side(side: str, folder: str, cache: str):
    """The folder as `side` holds it, and the standardizer of its images."""
    from pipelines.normalize import Standardizer
    from pipelines.sources import image_folder

    options = {
        "in_memory": {"memory_budget": 2**62},
        "streamed": {"memory_budget": 0},
        "streamed_cached": {"memory_budget": 0, "cache_dir": cache},
    }
    source = image_folder(folder, **options[side])
    return source, Standardizer.fit(source.images)


def epoch_function(source, standardizer):
    """A function that trains a model (built once, seed 0) for one more epoch on `source`."""
    import keras

    from pipelines.datasets import to_dataset

    keras.utils.set_random_seed(0)
    model = build_model(source.image_shape, source.num_classes)
    batches = to_dataset(source, 128, shuffle=True, seed=0, standardizer=standardizer)
    return lambda: model.fit(batches, epochs=1, verbose=0, shuffle=False)  # the dataset shuffles


def memory_of_side(side: str, folder: str) -> dict:
    """In this (fresh) process: load `side`, train one epoch; peak resident memory and loading time."""
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        source, standardizer = load_side(side, folder, cache)
        load_seconds = time.perf_counter() - started
        epoch_function(source, standardizer)()
    return {"peak_rss_gb": peak_rss_bytes() / 1e9, "load_seconds": load_seconds}


def epoch_figures(folder: str, repeats: int) -> dict[str, float]:
    """The three sides' epochs, alternating in this process: median seconds and ratios to in_memory."""
    from kerasdl.training.benchmarking import alternating_blocks, paired_ratio

    with tempfile.TemporaryDirectory() as cache:
        epochs = {side: epoch_function(*load_side(side, folder, cache)) for side in SIDES}
        seconds = alternating_blocks(epochs, calls=1, repeats=repeats, warmup=1)
    figures = {f"{side}_epoch_seconds": float(np.median(seconds[side])) for side in SIDES}
    for side in SIDES[1:]:
        figures[f"{side}_epoch_ratio"] = paired_ratio(seconds[side], seconds["in_memory"])
    return figures


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.side:
        print(json.dumps(memory_of_side(args.side, args.folder)))
        return 0
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1. Received: {args.repeats}")
    folder = Path(args.folder)
    generate(folder, args.images, args.size)
    print(f"images: {args.images}")
    print(f"image_size: {args.size}x{args.size}")
    for side in SIDES:
        command = [sys.executable, __file__, "--side", side, "--folder", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the {side} side failed (exit {done.returncode})")
        for name, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
            print(f"{side}_{name}: {value:.3f}", flush=True)
    for name, value in epoch_figures(str(folder), args.repeats).items():
        print(f"{name}: {value:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
