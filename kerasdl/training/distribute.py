"""tf.distribute strategies chosen by one flag, mixed precision, and who the chief is (DESIGN.md principle 6).

The same training code runs on the CPU, one or several GPUs, a TPU or
several machines; only `--strategy` changes:

- "auto": "multiworker" when TF_CONFIG names a cluster of several workers,
  else "tpu" when a TPU is attached, else "mirrored" on several GPUs,
  `OneDeviceStrategy` on one GPU, and the default strategy on the CPU;
- "cpu": the default strategy (`OneDeviceStrategy("/cpu:0")` when a GPU or
  TPU is visible): one replica;
- "mirrored": `MirroredStrategy` over every GPU, or over the logical CPU
  devices when there is no GPU: one replica per device;
- "tpu": `TPUStrategy` on the TPU VM's own TPU (or `tpu_address`): one
  replica per TPU core;
- "multiworker": `MultiWorkerMirroredStrategy` of the cluster in TF_CONFIG:
  one replica per device of every worker.

The batch size an experiment is given is the *global* batch: each step
trains on that many examples, split between the replicas (`describe` says
how), so the arithmetic of a step is the same on every strategy (batch
norm aside: its statistics are each replica's) and a learning rate tuned
on one machine still fits. More replicas with a larger
global batch is a different experiment: see the README section on scaling
out for the learning rate that goes with it.

`set_mixed_precision` picks the policy the hardware computes fastest in:
"mixed_float16" on GPUs (its narrow exponent needs loss scaling, which
`kerasdl.training.loop.TrainingLoop` and Keras' `compile` add), and
"mixed_bfloat16" on TPUs and CPUs (float32's exponent range: no loss
scaling). Variables stay float32 either way.

Logging and checkpoints happen on the chief only (`is_chief`): the task of
type "chief", or worker 0 of a cluster without one, as
`MultiWorkerMirroredStrategy` decides.

Verified on this project's 2-core CPU machine: "auto", "cpu", "mirrored"
over 2 logical CPUs, "multiworker" with 2 local processes, mixed_bfloat16.
GPU and TPU paths go through the same tf.distribute calls but were not run
here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import tensorflow as tf

STRATEGIES = ("auto", "cpu", "mirrored", "tpu", "multiworker")
# Names of earlier versions, still accepted: "default" is "cpu", "multi_worker" is "multiworker",
# "one_device" is `OneDeviceStrategy` on the first GPU (or the CPU).
LEGACY_NAMES = {"default": "cpu", "multi_worker": "multiworker", "one_device": "one_device"}

# MultiWorkerMirroredStrategy and TPUStrategy set up the process's TensorFlow runtime: one per process.
_CREATED_ONCE: dict[str, tf.distribute.Strategy] = {}


# ----------------------------------------------------------------------------- the cluster


def tf_config() -> dict[str, Any]:
    """TF_CONFIG as a dictionary ({} when unset): {"cluster": {...}, "task": {"type": ..., "index": ...}}."""
    text = os.environ.get("TF_CONFIG", "") or "{}"
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={text!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. Received: TF_CONFIG={text!r}")
    return config


def training_tasks() -> list[str]:
    """The addresses of the cluster's training tasks (chief and workers), in TensorFlow's order."""
    cluster = tf_config().get("cluster", {})
    return [*cluster.get("chief", []), *cluster.get("worker", [])]


def is_multi_worker() -> bool:
    """True when TF_CONFIG describes a cluster of more than one training task."""
    return len(training_tasks()) > 1


def cluster_id() -> str:
    """A short hash of the cluster in TF_CONFIG: the same on every task, different for another cluster."""
    cluster = tf_config().get("cluster", {})
    text = json.dumps({job: list(cluster.get(job, [])) for job in ("chief", "worker")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def is_chief() -> bool:
    """True on the worker that writes logs and checkpoints.

    Reads TF_CONFIG the way MultiWorkerMirroredStrategy does: the chief is the
    task of type "chief", or worker 0 when the cluster has no chief.
    """
    config = tf_config()
    task = config.get("task", {})
    if not task:
        return True
    cluster = config.get("cluster", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster


# ----------------------------------------------------------------------------- the strategy


def tpu_attached() -> bool:
    """True when TPU_NAME names a TPU to connect to, or on a Cloud TPU VM (a TPU device and libtpu).

    Checked without contacting anything, so "auto" stays instant on a CPU
    machine. A TPU VM has /dev/accel* (TPU v2-v4) or /dev/vfio/* (v5 and
    later) and the `libtpu` package TensorFlow's TPU build uses; a device
    file alone could be a GPU passed through VFIO. Verified only on paper.
    """
    if os.environ.get("TPU_NAME"):
        return True
    devices = Path("/dev")
    device = any(devices.glob("accel[0-9]*")) or any(devices.glob("vfio/[0-9]*"))
    return device and importlib.util.find_spec("libtpu") is not None


def resolve_strategy_name(name: str) -> str:
    """The strategy `name` stands for here: "auto" resolved (see the module docstring), earlier names mapped.

    Returns one of "cpu", "one_device", "mirrored", "tpu", "multiworker"
    without creating anything.
    """
    if name in LEGACY_NAMES:
        return LEGACY_NAMES[name]
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy. Expected one of {STRATEGIES}. Received: strategy={name!r}")
    if name != "auto":
        return name
    if is_multi_worker():
        return "multiworker"
    if tpu_attached():
        return "tpu"
    gpus = tf.config.list_logical_devices("GPU")
    return "mirrored" if len(gpus) > 1 else "one_device" if gpus else "cpu"


def _multi_worker_strategy() -> tf.distribute.Strategy:
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        raise RuntimeError(
            "MultiWorkerMirroredStrategy must be created before TensorFlow runs anything in this process "
            f"(create the strategy first, then the model and data). TensorFlow said: {error}"
        ) from None


def _tpu_strategy(tpu_address: str | None) -> tf.distribute.Strategy:
    # Verified only on paper: the sequence of TensorFlow's TPU guide.
    address = tpu_address or os.environ.get("TPU_NAME") or "local"  # "local": this TPU VM's own TPU
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(
    name: str = "auto", tpu_address: str | None = None, *, batch_size: int | None = None
) -> tf.distribute.Strategy:
    """Returns the `tf.distribute.Strategy` named by `name` (the list in the module docstring).

    A strategy with more than one replica, or on a cluster, is described in
    one printed line (with how `batch_size`, the global batch, splits
    between the replicas); the default strategy on one CPU prints nothing.

    Args:
        name: one of `STRATEGIES` (or an earlier name in `LEGACY_NAMES`).
        tpu_address: the TPU to connect to for "tpu" (None: TPU_NAME, or else
            the TPU VM's own).
        batch_size: the global batch size, for the printed line.
    """
    resolved = resolve_strategy_name(name)
    if resolved in _CREATED_ONCE:
        return _CREATED_ONCE[resolved]
    if resolved == "multiworker":  # before anything that starts TensorFlow's runtime, device listing included
        strategy = _CREATED_ONCE[resolved] = _multi_worker_strategy()
    elif resolved == "tpu":
        strategy = _CREATED_ONCE[resolved] = _tpu_strategy(tpu_address)
    else:
        gpus = tf.config.list_logical_devices("GPU")
        if resolved == "cpu":
            attached = gpus or tf.config.list_logical_devices("TPU")
            strategy = tf.distribute.OneDeviceStrategy("/cpu:0") if attached else tf.distribute.get_strategy()
        elif resolved == "one_device":
            strategy = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
        else:
            devices = gpus or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
    if strategy.num_replicas_in_sync > 1 or resolved in ("multiworker", "tpu"):
        print(f"tf.distribute: {describe(strategy, batch_size)}", flush=True)
    return strategy


def replica_batch_sizes(strategy: tf.distribute.Strategy, global_batch_size: int) -> list[int]:
    """How `experimental_distribute_dataset` splits a global batch: one size per replica.

    An even split when the replicas divide it; otherwise the first replicas
    get one example more.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch_size < replicas:
        raise ValueError(
            f"The global batch must give every one of the {replicas} replicas at least one example. "
            f"Received: batch_size={global_batch_size}"
        )
    share, extra = divmod(global_batch_size, replicas)
    return [share + (index < extra) for index in range(replicas)]


def describe(strategy: tf.distribute.Strategy, global_batch_size: int | None = None) -> str:
    """One line: the strategy, its replicas and, given the global batch size, each replica's share.

    Example: "MirroredStrategy, 2 replicas (CPU:0, CPU:1); global batch 128 = 2 x 64 per replica".
    """
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        text = "the default strategy, 1 replica (no distribution)"
    else:
        devices = [
            device.rsplit("/", 1)[-1].replace("device:", "") for device in strategy.extended.worker_devices
        ]
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        workers = len(training_tasks()) if multi_worker else 1
        # MultiWorkerMirroredStrategy's class is named CollectiveAllReduceStrategy: say the public name.
        kind = "MultiWorkerMirroredStrategy" if multi_worker else type(strategy).__name__
        replicas = strategy.num_replicas_in_sync
        text = f"{kind}, {replicas} replica{'s' if replicas > 1 else ''}"
        text += f" ({', '.join(devices)}{' on each of ' + str(workers) + ' workers' if workers > 1 else ''})"
    if global_batch_size is not None:
        sizes = replica_batch_sizes(strategy, global_batch_size)
        shares = f"{len(sizes)} x {sizes[0]}" if len(set(sizes)) == 1 else " + ".join(map(str, sizes))
        text += f"; global batch {global_batch_size} = {shares} per replica"
    return text


# ----------------------------------------------------------------------------- mixed precision


def mixed_precision_policy() -> str:
    """The mixed policy of this hardware: "mixed_float16" on GPUs, "mixed_bfloat16" on TPUs and CPUs."""
    on_tpu = tpu_attached() or tf.config.list_logical_devices("TPU")
    return "mixed_float16" if tf.config.list_logical_devices("GPU") and not on_tpu else "mixed_bfloat16"


def set_mixed_precision(enabled: bool) -> str:
    """Sets Keras' global dtype policy for the models built after it; returns the policy's name.

    Enabled: `mixed_precision_policy()` (layers compute in 16 bits, keep
    float32 variables). Disabled: "float32", so a process can switch back.
    With "mixed_float16", `TrainingLoop` and `Model.compile` wrap the
    optimizer in `keras.optimizers.LossScaleOptimizer`; with
    "mixed_bfloat16" no loss scaling is needed.
    """
    import keras

    policy = mixed_precision_policy() if enabled else "float32"
    keras.mixed_precision.set_dtype_policy(policy)
    return policy
