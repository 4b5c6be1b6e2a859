"""Course 1 from scratch: logistic regression and L-layer networks in NumPy, beside the same network in Keras.

Course 1, Week 2 ("Logistic regression as a neural network", "Vectorization"),
Week 3 ("Shallow neural networks") and Week 4 ("Deep L-layer neural network",
"Why deep representations?"), on a binary Fashion-MNIST task:

- shirt-vs-tshirt (default): Shirt (label 1) against T-shirt/top (label 0),
  the pair Fashion-MNIST classifiers confuse most (both have a torso and
  short or no sleeves; collars and buttons tell them apart), so depth and
  width have something to show;
- footwear: Sandal, Sneaker and Ankle boot against the seven other classes,
  an easy task that a linear model nearly solves.

Pixels are scaled to [0, 1] and laid out as the lessons do (X is
[784, m], one example per column). Every network trains by full-batch
gradient descent from `kerasdl.scratch` (no framework): logistic regression,
a 2-layer network and L-layer networks of several depths and widths (the
table of "why deep representations", measured on dev). The course's
4-layer network [784, 20, 7, 5, 1] also trains in Keras from the *same*
initial weights with the same full-batch steps, in float64: the largest
difference between the NumPy and the Keras weights after each step shows
that the NumPy network computes what the framework computes. Finally, one
forward pass of logistic regression is timed with explicit Python loops and
vectorized (the "vectorization" lesson), and the ratio is printed.

Run:
    python -m experiments.scratch_network                  # about a minute on 2 CPU cores
    python -m experiments.scratch_network --task footwear  # the easy task
    python -m experiments.scratch_network --widths 4,16,64 --depths 1,2,3,5
    tensorboard --logdir logs/scratch_network

In TensorBoard: Scalars "loss" overlays the cost curve of every network (one
TensorBoard run `<network>/train` each) and "error" their train and dev
errors; run "numpy_vs_keras" has "max_abs_weight_difference" per step; Text
"summary" holds the depth/width table, the NumPy-vs-Keras difference and the
vectorization ratio. `results.json` has the same figures (metrics
`<network>/dev_accuracy`, `max_abs_weight_difference`, `vectorization_speedup`).
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness import cli
from kerasdl.harness.run import Run, start_run
from kerasdl.scratch import deep_nn, logistic_regression, optimizers
from kerasdl.scratch.initialization import initialize_parameters
from kerasdl.training.benchmarking import alternating_blocks, paired_ratio
from pipelines.sources import fashion_mnist
from pipelines.splits import split_by_hash

EXPERIMENT = "scratch_network"
# task -> (positive classes, negative classes) of Fashion-MNIST.
TASKS = {"shirt-vs-tshirt": ((6,), (0,)), "footwear": ((5, 7, 9), (0, 1, 2, 3, 4, 6, 8))}
COURSE_NETWORK = (20, 7, 5)  # the hidden layers of the course's 4-layer network (Week 4 assignment)
# Flags a resumed run may change: a longer training redoes the networks from their start.
SAFE_TO_CHANGE = {"iterations", "log_every"}

DESCRIPTION = """\
Course 1 from scratch: NumPy logistic regression, a 2-layer and L-layer
networks trained by full-batch gradient descent on a binary Fashion-MNIST
task, a depth/width table on dev, the course's 4-layer network trained side
by side in Keras from the same weights (their largest weight difference per
step), and the speed-up of a vectorized forward pass over Python loops.
"""


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, DESCRIPTION)
    parser.add_argument("--task", choices=sorted(TASKS), default="shirt-vs-tshirt", help="the binary task")
    parser.add_argument("--train-size", type=int, default=1500, help="training examples (m)")
    parser.add_argument("--dev-size", type=int, default=1500, help="dev examples")
    parser.add_argument("--iterations", type=int, default=300, help="full-batch gradient-descent steps")
    cli.add_learning_rate_flag(
        parser,
        0.125,
        optimizer="gradient descent",
        note="a power of 2 is exact in the float32 variable of Keras' optimizer, "
        "so the Keras twin takes exactly the NumPy steps",
    )
    parser.add_argument(
        "--depths",
        default="1,2,4",
        help="hidden layers of the L-layer networks in the table (comma-separated)",
    )
    parser.add_argument(
        "--widths", default="8,32", help="units per hidden layer in the table (comma-separated)"
    )
    parser.add_argument("--log-every", type=int, default=10, help="steps between two logged points")
    parser.add_argument(
        "--timing-examples",
        type=int,
        default=200,
        help="examples in the timed loop-vs-vectorized forward pass",
    )
    cli.add_data_dir_flag(parser)
    return parser


def positive_integers(flag: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        cli.fail(f"{flag} must be comma-separated positive integers; received {text!r}")
    return values


def binary_task(args) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (X, Y), "dev": (X, Y)}: X [784, m] in [0, 1], Y [1, m] of 0/1, hash-chosen from train."""
    positive, negative = TASKS[args.task]
    pool = cli.load_or_fail(fashion_mnist, "train", data_dir=args.data_dir)
    pool = pool.take(np.isin(pool.labels, positive + negative), name=args.task)
    total = args.train_size + args.dev_size
    if total > len(pool):
        cli.fail(f"--train-size + --dev-size must be at most {len(pool)} for {args.task}; received {total}")
    share = total / len(pool)
    parts = split_by_hash(
        pool,
        {"train": share * args.train_size / total, "dev": share * args.dev_size / total, "rest": 1 - share},
        salt=f"{EXPERIMENT}/{args.seed}",
    )
    return {
        name: (
            parts[name].images.reshape(len(parts[name]), -1).T.astype(np.float64) / 255.0,
            np.isin(parts[name].labels, positive).astype(np.float64)[None, :],
        )
        for name in ("train", "dev")
    }


def log_point(run: Run, network: str, step: int, cost: float, errors: dict[str, float]) -> None:
    run.curves.log(f"{network}/train", "loss", step, cost)
    for split, error in errors.items():
        run.curves.log(f"{network}/{split}", "error", step, error)
    run.curves.save()


def train_logistic_regression(args, run: Run, data) -> dict:
    """Course 1, Week 2: logistic regression by full-batch gradient descent; its curves and accuracies."""
    X, Y = data["train"]
    w, b = logistic_regression.initialize(X.shape[0])
    for step in range(1, args.iterations + 1):
        grads, cost = logistic_regression.propagate(w, b, X, Y)
        w, b = w - args.learning_rate * grads["dw"], b - args.learning_rate * grads["db"]
        if step % args.log_every == 0 or step == args.iterations:
            errors = {
                split: float(np.mean(logistic_regression.predict(w, b, x) != y))
                for split, (x, y) in data.items()
            }
            log_point(run, "logistic_regression", step, cost, errors)
    return row("logistic_regression", 0, 0, X.shape[0] + 1, errors)


def gradient_descent_step(
    parameters: dict[str, np.ndarray], X, Y, learning_rate: float
) -> tuple[dict, float]:
    """Course 1, Week 4: one full-batch step of the ReLU network with a sigmoid output; (parameters, J)."""
    AL, caches = deep_nn.model_forward(X, parameters, "relu", "sigmoid")
    grads = deep_nn.model_backward(AL, Y, caches)
    return optimizers.gradient_descent_update(parameters, grads, learning_rate), deep_nn.compute_cost(AL, Y)


def network_errors(parameters: dict[str, np.ndarray], data) -> dict[str, float]:
    """The network's error on each split of `data`."""
    return {
        split: float(np.mean(deep_nn.predict(x, parameters, "relu", "sigmoid") != y))
        for split, (x, y) in data.items()
    }


def train_network(args, run: Run, data, name: str, hidden: list[int]) -> dict:
    """Course 1, Week 4: an L-layer ReLU network with a sigmoid output, He-initialized, by full-batch GD."""
    (X, Y) = data["train"]
    parameters = initialize_parameters([X.shape[0], *hidden, 1], "he", seed=args.seed)
    for step in range(1, args.iterations + 1):
        parameters, cost = gradient_descent_step(parameters, X, Y, args.learning_rate)
        if step % args.log_every == 0 or step == args.iterations:
            errors = network_errors(parameters, data)
            log_point(run, name, step, cost, errors)
    count = sum(value.size for value in parameters.values())
    return row(
        name, len(hidden), hidden[0] if len(set(hidden)) == 1 else "/".join(map(str, hidden)), count, errors
    )


def row(name: str, hidden_layers: int, width, parameters: int, errors: dict[str, float]) -> dict:
    return {
        "network": name,
        "hidden_layers": hidden_layers,
        "width": width,
        "parameters": int(parameters),
        "train_accuracy": 1 - errors["train"],
        "dev_accuracy": 1 - errors["dev"],
    }


def keras_twin(parameters: dict[str, np.ndarray], dtype: str = "float64") -> keras.Model:
    """The NumPy network as a Keras model with the same weights: kernel = W.T, bias = b (row-major data).

    The output layer is linear and the sigmoid is folded into the loss
    (`BinaryCrossentropy(from_logits=True)`), as frameworks do for
    stability: its gradient is exactly the lesson's dZ[L] = A[L] - Y, while
    Keras' loss on probabilities adds an epsilon inside the log. Feed it
    float64 tensors: `predict` and `fit` cast NumPy inputs to float32.
    """
    L = len(parameters) // 2
    inputs = keras.Input((parameters["W1"].shape[1],), dtype=dtype)
    x = inputs
    for l in range(1, L + 1):  # noqa: E741 - the lessons' layer index
        activation = "relu" if l < L else None
        x = keras.layers.Dense(
            parameters[f"W{l}"].shape[0], activation=activation, dtype=dtype, name=f"layer{l}"
        )(x)
    model = keras.Model(inputs, x, name="keras_twin")
    model.set_weights(in_keras_order(parameters))
    return model


def in_keras_order(parameters: dict[str, np.ndarray]) -> list[np.ndarray]:
    """[W1.T, b1, W2.T, b2, ...]: the lesson's parameters as `Model.get_weights()` lists a Dense stack's."""
    L = len(parameters) // 2
    return [
        array
        for layer in range(1, L + 1)
        for array in (parameters[f"W{layer}"].T, parameters[f"b{layer}"][:, 0])
    ]


def max_weight_difference(parameters: dict[str, np.ndarray], model: keras.Model) -> float:
    """The largest |NumPy weight - Keras weight| over every W and b."""
    pairs = zip(in_keras_order(parameters), model.get_weights(), strict=True)
    return max(float(np.max(np.abs(ours - theirs))) for ours, theirs in pairs)


def numpy_and_keras_in_step(args, run: Run, data, hidden=COURSE_NETWORK) -> dict:
    """The course's 4-layer network in NumPy and in Keras, the same full-batch steps from the same weights.

    Returns the NumPy network's row of the table and the weight difference after every logged step.
    """
    (X, Y) = data["train"]
    parameters = initialize_parameters([X.shape[0], *hidden, 1], "he", seed=args.seed)
    model = keras_twin(parameters)
    model.compile(
        optimizer=keras.optimizers.SGD(args.learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64"),
    )
    differences = []
    inputs, labels = tf.constant(X.T), tf.constant(Y.T)  # float64: NumPy arrays would be cast to float32
    for step in range(1, args.iterations + 1):
        parameters, cost = gradient_descent_step(parameters, X, Y, args.learning_rate)
        keras_cost = float(model.train_on_batch(inputs, labels))
        if step % args.log_every == 0 or step == args.iterations:
            difference = max_weight_difference(parameters, model)
            differences.append([step, difference])
            run.curves.log("numpy_vs_keras", "max_abs_weight_difference", step, difference)
            errors = network_errors(parameters, data)
            log_point(run, "course_network", step, cost, errors)
            run.curves.log("course_network_keras/train", "loss", step, keras_cost)
    count = sum(value.size for value in parameters.values())
    result = row("course_network", len(hidden), "/".join(map(str, hidden)), count, errors)
    return {"row": result, "differences": differences}


def logistic_forward_loops(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """z = w^T x + b and sigmoid, one example and one feature at a time: what vectorization removes."""
    n_x, m = X.shape
    A = np.zeros((1, m))
    for i in range(m):
        z = b
        for j in range(n_x):
            z += w[j, 0] * X[j, i]
        A[0, i] = 1 / (1 + np.exp(-z))
    return A


def vectorization_speedup(args, data) -> dict:
    """Course 1, Week 2 ("Vectorization"): one forward pass with loops vs `logistic_regression.forward`."""
    X = data["train"][0][:, : args.timing_examples]
    w = np.random.default_rng(args.seed).normal(size=(X.shape[0], 1)) * 0.01
    np.testing.assert_allclose(logistic_forward_loops(w, 0.5, X), logistic_regression.forward(w, 0.5, X))
    blocks = alternating_blocks(
        {
            "loops": lambda: logistic_forward_loops(w, 0.5, X),
            "vectorized": lambda: logistic_regression.forward(w, 0.5, X),
        },
        calls=1,
        repeats=5,
        warmup=1,
    )
    return {
        "examples": X.shape[1],
        "loops_ms": 1000 * float(np.median(blocks["loops"])),
        "vectorized_ms": 1000 * float(np.median(blocks["vectorized"])),
        "speedup": paired_ratio(blocks["loops"], blocks["vectorized"]),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| network | hidden layers | width | parameters | train accuracy | dev accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['network']} | {r['hidden_layers']} | {r['width']} | {r['parameters']:,} | "
        f"{r['train_accuracy']:.4f} | {r['dev_accuracy']:.4f} |"
        for r in rows
    ]
    return "\n".join(lines)


def summary_text(args, m: int, rows: list[dict], largest: float, speed: dict) -> str:
    """The depth/width table, the NumPy-vs-Keras difference and the vectorization speed-up, in Markdown."""
    return "\n".join(
        [
            f"# Course 1 from scratch: {args.task}, m = {m}, {args.iterations} full-batch steps, "
            f"alpha {args.learning_rate}",
            "",
            markdown(rows),
            "",
            f"The course's network {COURSE_NETWORK} in NumPy and in Keras (float64), same initial weights "
            f"and steps: largest weight difference {largest:.2e} over {args.iterations} steps.",
            "",
            f"Vectorization: one logistic-regression forward pass over {speed['examples']} examples took "
            f"{speed['loops_ms']:.1f} ms with Python loops and {speed['vectorized_ms']:.3f} ms vectorized: "
            f"{speed['speedup']:,.0f}x.",
        ]
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    depths = positive_integers("--depths", args.depths)
    widths = positive_integers("--widths", args.widths)
    cli.check_at_least(args, 1, "train_size", "dev_size", "iterations", "log_every", "timing_examples")
    if not args.learning_rate > 0:
        cli.fail(f"--learning-rate must be positive; received {args.learning_rate}")
    data = binary_task(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    m = data["train"][0].shape[1]
    positives = int(data["train"][1].sum())
    print(f"Run directory: {run.dir}\n{args.task}: m = {m} training examples ({positives} positive), "
          f"{data['dev'][0].shape[1]} dev examples")  # fmt: skip

    rows = [run.once("network/logistic_regression", train_logistic_regression, args, run, data)]
    print(f"logistic regression: dev accuracy {rows[-1]['dev_accuracy']:.4f}", flush=True)
    for depth in depths:
        for width in widths:
            name = f"L{depth + 1}_w{width}"
            rows.append(run.once(f"network/{name}", train_network, args, run, data, name, [width] * depth))
            print(f"{name}: dev accuracy {rows[-1]['dev_accuracy']:.4f}", flush=True)
    twin = run.once("numpy_vs_keras", numpy_and_keras_in_step, args, run, data)
    rows.append(twin["row"])
    largest = max(difference for _, difference in twin["differences"])
    speed = run.once("vectorization", vectorization_speedup, args, data)

    run.finish(
        metrics={
            **{f"{r['network']}/dev_accuracy": r["dev_accuracy"] for r in rows},
            **{f"{r['network']}/train_accuracy": r["train_accuracy"] for r in rows},
            "max_abs_weight_difference": largest,
            "vectorization_speedup": speed["speedup"],
        },
        details={"rows": rows, "numpy_vs_keras": twin["differences"], "vectorization": speed},
        summary=summary_text(args, m, rows, largest, speed),
        step=args.iterations,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
