"""kerasdl on JAX vs TensorFlow: one training step, and kerasdl Adam vs keras.optimizers.Adam under JAX.

The reusable parts run on every Keras 3 backend (README: "Using kerasdl
layers in a JAX or PyTorch Keras project"). Two figures on this CPU:

- One training step (`train_on_batch` on a fixed batch of 256
  Fashion-MNIST sized images) of benchmarks/layers.py's network built from
  kerasdl layers (Dense, BatchNorm, InvertedDropout, Softmax), with
  kerasdl's loss and Adam, under TensorFlow (XLA off, the toolkit's CPU
  default, and on) and under JAX (always XLA). A process runs one backend,
  so the script starts one process per backend in turn, `--rounds` times;
  each times its step in blocks after a warm-up, and the ratio is the
  median over the rounds of JAX's time over TensorFlow's.
- kerasdl Adam vs keras.optimizers.Adam under JAX: one update of a
  784-512-512-10 MLP's variables (about 670,000 numbers) with fixed
  gradients, the way JAX's trainer applies it (`stateless_apply` under
  `jax.jit`), in alternating blocks within one process
  (`kerasdl.training.benchmarking.alternating_blocks`). Goal:
  `adam_update_ratio_jax` <= 1.05 (kerasdl / Keras).

The JAX processes run in the venv that `make test-backends` builds
(.venv-jax; `make .venv-jax/.kerasdl-installed` builds it alone); without
it the script says so and measures TensorFlow only. Numbers from a loaded,
shared machine are noisy.

Run:
    python benchmarks/backends.py                  # about 3 minutes on 2 CPU cores
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/backends.py --backend jax --adam
                                                   # one backend's figures, in this process

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from benchmarks.layers import build  # noqa: E402
from kerasdl.nn import losses, optimizers  # noqa: E402
from kerasdl.nn.autodiff import compiled  # noqa: E402
from kerasdl.training import benchmarking  # noqa: E402

BACKENDS = ("tensorflow", "jax")
SHAPES = [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]  # benchmarks/optimizers.py's MLP


def train_step_function(width: int, batch_size: int, jit_compile: bool):
    """One `train_on_batch` of the kerasdl network (kerasdl loss and Adam) on a fixed batch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=batch_size)
    keras.utils.set_random_seed(0)
    model = build("kerasdl", width, keep_prob=0.8)
    model.compile(
        optimizer=optimizers.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(), jit_compile=jit_compile
    )
    return lambda: model.train_on_batch(x, y)


def update_function(optimizer: keras.optimizers.Optimizer, gradients: list):
    """One compiled update of fresh variables by `optimizer`, the way the backend's trainer applies it.

    JAX and PyTorch: `stateless_apply`, fed back its own outputs. TensorFlow has no `stateless_apply`:
    `apply_gradients` in a `tf.function`, as benchmarks/optimizers.py times it.
    """
    variables = [keras.Variable(np.zeros(shape, "float32")) for shape in SHAPES]
    optimizer.build(variables)
    if keras.backend.backend() == "tensorflow":

        @compiled
        def apply_gradients():
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return optimizer.iterations.value

        return lambda: keras.ops.convert_to_numpy(apply_gradients())
    state = {
        "trainable": [variable.value for variable in variables],
        "optimizer": [variable.value for variable in optimizer.variables],
    }
    apply = compiled(
        lambda optimizer_values, values: optimizer.stateless_apply(optimizer_values, gradients, values)
    )

    def update():
        state["trainable"], state["optimizer"] = apply(state["optimizer"], state["trainable"])
        return keras.ops.convert_to_numpy(state["optimizer"][0])  # blocks until the update is done

    return update


def measure(backend: str, args) -> dict[str, str]:
    """This process's figures: its training step and, with `--adam`, the Adam comparison."""
    if keras.backend.backend() != backend:
        received = keras.backend.backend()
        raise SystemExit(f"--backend {backend} needs KERAS_BACKEND={backend}. Received: backend={received!r}")
    figures = {}
    variants = {"": False, "_xla": True} if backend == "tensorflow" else {"": backend == "jax"}
    for suffix, jit_compile in variants.items():
        step = train_step_function(args.width, args.batch_size, jit_compile)
        blocks = benchmarking.alternating_blocks({"step": step}, args.calls, args.repeats, warmup=3)
        figures[f"train_step_ms_{backend}{suffix}"] = f"{1e3 * np.median(blocks['step']):.2f}"
    if args.adam:
        rng = np.random.default_rng(0)
        gradients = [
            keras.ops.convert_to_tensor(rng.normal(size=shape).astype("float32")) for shape in SHAPES
        ]
        blocks = benchmarking.alternating_blocks(
            {
                "kerasdl": update_function(optimizers.Adam(1e-3), gradients),
                "keras": update_function(keras.optimizers.Adam(1e-3), gradients),
            },
            calls=args.update_calls,
            repeats=args.repeats,
            warmup=5,
        )
        figures[f"adam_update_us_kerasdl_{backend}"] = f"{1e6 * np.median(blocks['kerasdl']):.1f}"
        figures[f"adam_update_us_keras_{backend}"] = f"{1e6 * np.median(blocks['keras']):.1f}"
        ratio = benchmarking.paired_ratio(blocks["kerasdl"], blocks["keras"])
        figures[f"adam_update_ratio_{backend}"] = f"{ratio:.3f}"
    return figures


def run_backend(backend: str, python: str, args) -> dict[str, float]:
    """`measure` in a fresh process of `python` with KERAS_BACKEND=backend; its figures."""
    command = [python, __file__, "--backend", backend, "--width", str(args.width),
               "--batch-size", str(args.batch_size), "--calls", str(args.calls),
               "--repeats", str(args.repeats), "--update-calls", str(args.update_calls)]  # fmt: skip
    if backend == "jax":
        command.append("--adam")
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(command, env=environment, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"The {backend} process failed:\n{run.stderr[-3000:]}")
    lines = [line for line in run.stdout.splitlines() if ": " in line and not line.startswith(" ")]
    return {name: float(value) for name, value in (line.split(": ", 1) for line in lines)}


def compare(args) -> dict[str, str]:
    """Alternates one process per backend, `args.rounds` times; the medians and the paired ratios."""
    pythons = {"tensorflow": args.tensorflow_python, "jax": args.jax_python}
    backends = [backend for backend in BACKENDS if Path(pythons[backend]).exists()]
    if "jax" not in backends:
        print(
            f"# no JAX venv at {args.jax_python}: measuring TensorFlow only "
            "(make .venv-jax/.kerasdl-installed builds it)",
            file=sys.stderr,
        )
    rounds: list[dict[str, float]] = []
    for _ in range(args.rounds):
        figures: dict[str, float] = {}
        for backend in backends:
            figures |= run_backend(backend, pythons[backend], args)
        rounds.append(figures)
    names = list(rounds[0])
    result = {name: f"{np.median([figures[name] for figures in rounds]):g}" for name in names}
    if "jax" in backends:
        for tensorflow in ("train_step_ms_tensorflow", "train_step_ms_tensorflow_xla"):
            ratio = np.median([figures["train_step_ms_jax"] / figures[tensorflow] for figures in rounds])
            result[f"train_step_ratio_jax_vs_{tensorflow.removeprefix('train_step_ms_')}"] = f"{ratio:.3f}"
    return result


def main(argv=None) -> int:
    parser = benchmarking.benchmark_parser(__doc__)
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                        help="measure this backend in this process (KERAS_BACKEND must match)")  # fmt: skip
    parser.add_argument("--adam", action="store_true", help="with --backend: also time Adam's update")
    parser.add_argument("--rounds", type=int, default=3, help="processes per backend, alternating")
    parser.add_argument("--width", type=int, default=512, help="units per hidden layer")
    parser.add_argument("--batch-size", type=int, default=256, help="images per training step")
    parser.add_argument("--update-calls", type=int, default=20, help="Adam updates per timed block")
    parser.add_argument("--tensorflow-python", default=sys.executable, help="the TensorFlow venv's python")
    parser.add_argument("--jax-python", default=str(ROOT / ".venv-jax" / "bin" / "python"),
                        help="the JAX venv's python")  # fmt: skip
    benchmarking.add_block_flags(parser, calls=5, repeats=21, call="training steps", subject="measurement")
    args = parser.parse_args(argv)
    benchmarking.print_figures(measure(args.backend, args) if args.backend else compare(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
