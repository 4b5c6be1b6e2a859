"""The fast recipe's networks in float32 and in mixed bfloat16: milliseconds per training step, as a ratio.

`kerasdl.nn.recipes.FastRecipe(dtype_policy="mixed_bfloat16")` computes the
layers in bfloat16 and keeps float32 weights. Whether that is faster
depends on the hardware: a CPU with bfloat16 matrix units (Intel AMX,
`amx_bf16` in /proc/cpuinfo) runs the convolutions and matrix products in
them; on one without, bfloat16 may be emulated and slower (not measured here). Batch norm computes its
statistics in float32 either way, so a network with batch norm after every
convolution gains little. This benchmark shows both, for the recipe's two
network shapes (stride 2: (32, 64) channels and 128 hidden units; stride 1:
(32, 64, 128) and 256), each without batch norm, with batch norm from the
last stage on, and with it everywhere.

Each pair trains the same network (same initial weights) on the same batch
of 256 random 28x28 images, one `train_on_batch` per call; the two
precisions alternate in blocks (`kerasdl.training.benchmarking`), and each
figure is the median block. The ratio is float32 over mixed bfloat16: the
speedup of bfloat16.

Run (about 1 minute on 2 CPU cores):

    python benchmarks/mixed_precision.py
    python benchmarks/mixed_precision.py --networks stride1_no_bn --repeats 5

Output, one `name: value` line per figure and network:
    train_step_ms_float32_<network>, train_step_ms_mixed_bfloat16_<network>
    train_step_ratio_<network>   float32 / mixed bfloat16 (above 1: bfloat16 is faster)
    cpu_has_amx_bf16             1 if /proc/cpuinfo lists amx_bf16, else 0
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.harness.run import set_seeds
from kerasdl.nn.recipes import FastRecipe, build_fast_recipe
from kerasdl.training.benchmarking import (
    add_block_flags,
    alternating_blocks,
    benchmark_parser,
    print_comparison,
    print_figures,
)

_STRIDE2 = FastRecipe(filters=(32, 64), hidden_units=128, stem_stride=2)
_STRIDE1 = FastRecipe(filters=(32, 64, 128), hidden_units=256)
NETWORKS = {
    "stride2_no_bn": dataclasses.replace(_STRIDE2, batch_norm=False),
    "stride2_bn": _STRIDE2,
    "stride1_no_bn": dataclasses.replace(_STRIDE1, batch_norm=False),
    "stride1_bn_from_stage3": dataclasses.replace(_STRIDE1, stages_without_batch_norm=2),
    "stride1_bn": _STRIDE1,
}


def cpu_has_amx_bf16() -> bool:
    """Whether /proc/cpuinfo lists the AMX bfloat16 unit (False where there is no /proc/cpuinfo)."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def train_step(recipe: FastRecipe, batch_size: int, weights: list[np.ndarray] | None = None):
    """(one training step of `recipe`'s network on a fixed random batch, its initial weights)."""
    model, *_ = build_fast_recipe(recipe, train_size=batch_size)
    if weights is not None:
        model.set_weights(weights)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=batch_size)
    return (lambda: model.train_on_batch(x, y)), model.get_weights()


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--networks", default=",".join(NETWORKS), help=f"comma-separated, of: {', '.join(NETWORKS)}"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="images per training step")
    add_block_flags(parser, calls=5, repeats=15, call="training steps", subject="precision")
    args = parser.parse_args(argv)
    names = args.networks.split(",")
    unknown = [name for name in names if name not in NETWORKS]
    if unknown:
        parser.error(f"--networks: unknown {unknown}; known: {list(NETWORKS)}")
    print_figures({"cpu_has_amx_bf16": int(cpu_has_amx_bf16())})
    for name in names:
        set_seeds(0)
        full, weights = train_step(NETWORKS[name], args.batch_size)
        mixed, _ = train_step(
            dataclasses.replace(NETWORKS[name], dtype_policy="mixed_bfloat16"), args.batch_size, weights
        )
        blocks = alternating_blocks(
            {"float32": full, "mixed_bfloat16": mixed}, calls=args.calls, repeats=args.repeats
        )
        print_comparison("train_step", blocks, unit="ms", suffix=f"_{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
