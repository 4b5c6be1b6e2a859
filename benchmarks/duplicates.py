"""Duplicate detection by content: time per 10,000 images, and how many planted copies are found.

Course 3, Week 1: copies of one picture must not sit in train and in dev.
`kerasdl.diagnostics.duplicates.find_duplicates` hashes every image twice
(SHA-256 of the pixels, `imagehash.phash` at 256 bits) and joins pairs of
identical pixels or of perceptual hashes within `--near-bits` bits.

Data: the first `--images` Fashion-MNIST images (Debian's offline files),
with `--planted` of them copied again: half byte-identical, half enlarged to
40x40, saved as JPEG (quality 90) and shrunk back to 28x28, the way a
scraped copy differs. Figures:

- exact_seconds_per_10k: finding identical images only (SHA-256 and grouping);
- near_seconds_per_10k: the whole search (both hashes, the multi-index
  Hamming search, grouping), and its parts phash_seconds_per_10k and
  near_search_seconds_per_10k;
- *_cpu_seconds_per_10k: the same in CPU seconds of this process (the
  machine may be shared: CPU time is the steadier figure);
- planted_exact_found / planted_near_found against *_planted: a planted copy
  is found when it is in one group with its original;
- other_groups: groups among the original images (Fashion-MNIST has some
  near-identical photographs of one product).

Run:
    python benchmarks/duplicates.py                 # about 15 s on 2 CPU cores
    python benchmarks/duplicates.py --images 70000 --planted 1000

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.diagnostics.duplicates import (
    NEAR_DUPLICATE_BITS,
    find_duplicates,
    near_pairs,
    perceptual_hashes,
)
from pipelines.sources import fashion_mnist


def recompressed_copy(image: np.ndarray) -> np.ndarray:
    """A 28x28 greyscale image enlarged to 40x40, saved as JPEG (quality 90), shrunk back."""
    picture = Image.fromarray(image[..., 0]).resize((40, 40), Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return np.asarray(Image.open(buffer).convert("L").resize((28, 28), Image.BILINEAR))[..., None]


def planted_set(
    images: int, planted: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images and labels with copies appended; the originals of the exact and of the near copies."""
    source = fashion_mnist("all")
    base, labels = source.images[:images], source.labels[:images]
    rng = np.random.default_rng(seed)
    originals = rng.choice(images, planted, replace=False)
    exact, near = originals[: planted // 2], originals[planted // 2 :]
    copies = np.concatenate([base[exact], np.stack([recompressed_copy(base[i]) for i in near])])
    return (
        np.concatenate([base, copies]),
        np.concatenate([labels, labels[originals]]),
        exact,
        near,
    )


def timed(function, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20_000, help="Fashion-MNIST images (at most 70,000)")
    parser.add_argument("--planted", type=int, default=200, help="copies added: half exact, half near")
    parser.add_argument("--near-bits", type=int, default=NEAR_DUPLICATE_BITS, help="Hamming threshold of 256")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    images, labels, exact, near = planted_set(args.images, args.planted, args.seed)
    n, per_10k = len(images), 10_000 / len(images)
    split = {"all": images}, {"all": labels}
    found_exact, exact_wall, exact_cpu = timed(find_duplicates, *split, near_bits=None)
    found, near_wall, near_cpu = timed(find_duplicates, *split, near_bits=args.near_bits)
    bits, phash_wall, phash_cpu = timed(perceptual_hashes, images)
    _, search_wall, search_cpu = timed(near_pairs, bits, args.near_bits)

    group_of = {index: number for number, g in enumerate(found.groups) for _, index in g.members}
    copy_index = {int(original): args.images + k for k, original in enumerate(np.concatenate([exact, near]))}

    def found_with_original(originals) -> int:
        return sum(
            int(original) in group_of and group_of[int(original)] == group_of.get(copy_index[int(original)])
            for original in originals
        )

    planted_groups = {group_of.get(copy_index[int(o)]) for o in np.concatenate([exact, near])}
    other = sum(number not in planted_groups for number in range(len(found.groups)))
    figures = {
        "images": n,
        "near_duplicate_bits": args.near_bits,
        "exact_seconds_per_10k": exact_wall * per_10k,
        "exact_cpu_seconds_per_10k": exact_cpu * per_10k,
        "near_seconds_per_10k": near_wall * per_10k,
        "near_cpu_seconds_per_10k": near_cpu * per_10k,
        "phash_seconds_per_10k": phash_wall * per_10k,
        "phash_cpu_seconds_per_10k": phash_cpu * per_10k,
        "near_search_seconds_per_10k": search_wall * per_10k,
        "near_search_cpu_seconds_per_10k": search_cpu * per_10k,
        "exact_planted": len(exact),
        "planted_exact_found": found_with_original(exact),
        "planted_exact_found_exact_only": sum(
            any({int(o), copy_index[int(o)]} <= {i for _, i in g.members} for g in found_exact.groups)
            for o in exact
        ),
        "near_planted": len(near),
        "planted_near_found": found_with_original(near),
        "other_groups": other,
        "load_average_1min": os.getloadavg()[0],
    }
    for name, value in figures.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
