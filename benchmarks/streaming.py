"""A folder bigger than memory: one epoch streamed from disk against the same epoch with the images in memory.

`pipelines.sources.image_folder` streams a folder whose decoded pixels
exceed the memory budget (`pipelines.streaming`): batches are read in
tf.data's parallel map, by decoding their JPEG files or from the decoded
cache. This script measures what that costs.

Data: `--images` Fashion-MNIST items (Debian's offline files), enlarged to
`--size` pixels, tinted by class and saved as JPEG (quality 90) in one
folder per class, generated once into `--folder` (about a minute; kept for
later runs).

Three sides, each in a fresh process so each peak resident memory is its
own, each training the main job's CNN (`experiments.mismatch`, width 32,
batch 128, standardized inputs) for `--epochs` epochs on the same images
in the same batch order:

- in_memory: the folder read into memory (what fits today);
- streamed: `memory_budget=0`, every batch decoded from its JPEG files;
- streamed_cached: the same with `cache_dir`: the scan writes the decoded
  pixels once, and batches are read from that file.

Figures: *_peak_rss_gb (VmHWM of the process: loading, statistics and
training), *_epoch_seconds (the epochs' wall time, loading excluded),
*_load_seconds (listing, decoding pass, and the normalization pass), and
*_epoch_ratio = side / in_memory. The issue's goals: peak resident memory
of the streamed side below 1.5 GB, epoch ratio at most 1.15.

Run:
    python benchmarks/streaming.py                       # 50,000 images at 96x96: about 15 minutes
    python benchmarks/streaming.py --images 5000         # a quick look

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
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
    parser.add_argument("--epochs", type=int, default=1, help="epochs trained on each side")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # one side, in a child process
    return parser


def generate(folder: Path, count: int, size: int) -> None:
    """`count` Fashion-MNIST items as tinted `size` x `size` JPEGs in one folder per class."""
    from PIL import Image

    from pipelines.sources import FASHION_MNIST_CLASSES, fashion_mnist

    stamp = folder / "made.json"
    if stamp.exists() and json.loads(stamp.read_text()) == {"images": count, "size": size}:
        return
    source = fashion_mnist("all")
    if count > len(source):
        raise SystemExit(f"--images must be at most {len(source)} (Fashion-MNIST's size). Received: {count}")
    tints = np.random.default_rng(0).uniform(0.4, 1.0, (len(FASHION_MNIST_CLASSES), 3))
    names = [name.replace("/", "-") for name in FASHION_MNIST_CLASSES]
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)

    def save(index: int) -> None:
        label = int(source.labels[index])
        grey = Image.fromarray(source.images[index, :, :, 0]).resize((size, size), Image.BILINEAR)
        rgb = (np.asarray(grey, np.float32)[..., None] * tints[label]).astype(np.uint8)
        Image.fromarray(rgb).save(folder / names[label] / f"{index:05d}.jpg", quality=90)

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(save, range(count)))
    stamp.write_text(json.dumps({"images": count, "size": size}))
    print(
        f"generated {count} JPEG files in {folder} in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )


def peak_rss_bytes() -> int:
    """VmHWM: the most resident memory this process has held."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def run_side(args: argparse.Namespace) -> dict:
    """One side in this process: load, standardize, train; the figures as a dict."""
    import keras

    from experiments.mismatch import compiled_model
    from pipelines.datasets import to_dataset
    from pipelines.normalize import Standardizer
    from pipelines.sources import image_folder

    options = {"in_memory": {"memory_budget": 2**62}, "streamed": {"memory_budget": 0}}
    with tempfile.TemporaryDirectory() as cache:
        options["streamed_cached"] = {"memory_budget": 0, "cache_dir": cache}
        started = time.perf_counter()
        source = image_folder(args.folder, **options[args.side])
        standardizer = Standardizer.fit(source.images)
        load_seconds = time.perf_counter() - started
        keras.utils.set_random_seed(0)
        model = compiled_model(source.image_shape, source.num_classes, width=32, learning_rate=2e-3)
        batches = to_dataset(source, 128, shuffle=True, seed=0, standardizer=standardizer)
        started = time.perf_counter()
        history = model.fit(batches, epochs=args.epochs, verbose=0)
        epoch_seconds = (time.perf_counter() - started) / args.epochs
    return {
        "peak_rss_gb": peak_rss_bytes() / 1e9,
        "epoch_seconds": epoch_seconds,
        "load_seconds": load_seconds,
        "final_loss": float(history.history["loss"][-1]),
        "streamed": type(source.images).__name__ != "ndarray",
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.side:
        print(json.dumps(run_side(args)))
        return 0
    folder = Path(args.folder)
    generate(folder, args.images, args.size)
    figures = {}
    for side in SIDES:
        command = [
            sys.executable,
            __file__,
            "--side",
            side,
            "--folder",
            str(folder),
            "--epochs",
            str(args.epochs),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the {side} side failed (exit {done.returncode})")
        figures[side] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"images: {args.images}")
    print(f"image_size: {args.size}x{args.size}")
    for side, result in figures.items():
        for name in ("peak_rss_gb", "epoch_seconds", "load_seconds", "final_loss"):
            print(f"{side}_{name}: {result[name]:.3f}")
        if side != "in_memory":
            print(
                f"{side}_epoch_ratio: {result['epoch_seconds'] / figures['in_memory']['epoch_seconds']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
