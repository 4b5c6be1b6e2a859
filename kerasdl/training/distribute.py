"""tf.distribute strategies chosen by a flag (DESIGN.md principle 6).

The same training code runs on the CPU, one or several GPUs, a TPU or several
workers; logging and checkpoints happen on the chief only (`is_chief`).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str = "auto", tpu_address: str | None = None) -> tf.distribute.Strategy:
    """Returns the `tf.distribute.Strategy` named by `name`.

    Args:
        name: one of `STRATEGIES`. "auto" picks `MirroredStrategy` when more
            than one GPU is visible, `OneDeviceStrategy` on a single GPU and the
            default (no-op) strategy on the CPU.
        tpu_address: the TPU to connect to for "tpu" ("" or None: the local
            TPU VM).
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy. Expected one of {STRATEGIES}. Received: strategy={name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device" if gpus else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief() -> bool:
    """True on the worker that writes logs and checkpoints.

    Reads TF_CONFIG the way MultiWorkerMirroredStrategy does: the chief is the
    task of type "chief", or worker 0 when the cluster has no chief.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    cluster = config.get("cluster", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster
