"""kerasdl.training.distribute: one flag picks the strategy; mixed precision; the cluster in TF_CONFIG.

What needs more than one device runs in a subprocess: logical CPU devices
must be configured before TensorFlow starts.
"""

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl.harness.cli import experiment_parser
from kerasdl.training.distribute import (
    cluster_id,
    describe,
    is_multi_worker,
    make_strategy,
    replica_batch_sizes,
    resolve_strategy_name,
    set_mixed_precision,
)
from kerasdl.training.loop import TrainingLoop

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _cluster(*workers, index=0, chief=None):
    cluster = {"worker": list(workers), **({"chief": [chief]} if chief else {})}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


class TestChoosingTheStrategy:
    def test_names_old_and_new(self, monkeypatch):
        monkeypatch.delenv("TF_CONFIG", raising=False)
        monkeypatch.delenv("TPU_NAME", raising=False)
        assert (
            resolve_strategy_name("default") == "cpu"
            and resolve_strategy_name("multi_worker") == "multiworker"
        )
        assert make_strategy("cpu").num_replicas_in_sync == 1
        assert make_strategy("default").num_replicas_in_sync == 1
        with pytest.raises(
            ValueError, match=r"Expected one of \('auto', 'cpu', 'mirrored', 'tpu', 'multiworker'\)"
        ):
            make_strategy("gpu")

    def test_auto_picks_multiworker_for_a_cluster_and_tpu_when_one_is_named(self, monkeypatch):
        monkeypatch.delenv("TPU_NAME", raising=False)
        monkeypatch.setenv("TF_CONFIG", _cluster("a:1", "b:2"))
        assert resolve_strategy_name("auto") == "multiworker"
        monkeypatch.setenv("TF_CONFIG", _cluster("a:1"))  # one worker is no cluster
        assert resolve_strategy_name("auto") != "multiworker"
        monkeypatch.delenv("TF_CONFIG")
        monkeypatch.setenv("TPU_NAME", "my-tpu")
        assert resolve_strategy_name("auto") == "tpu"

    def test_the_cluster_is_the_same_on_every_task_and_another_elsewhere(self, monkeypatch):
        monkeypatch.setenv("TF_CONFIG", _cluster("a:1", "b:2", index=0))
        first = cluster_id()
        assert is_multi_worker()
        monkeypatch.setenv("TF_CONFIG", _cluster("a:1", "b:2", index=1))
        assert cluster_id() == first
        monkeypatch.setenv("TF_CONFIG", _cluster("a:1", "c:2", index=1))
        assert cluster_id() != first
        monkeypatch.setenv("TF_CONFIG", _cluster("a:1", chief="c:0"))
        assert is_multi_worker()  # a chief and a worker are two training tasks
        monkeypatch.setenv("TF_CONFIG", "{not json")
        with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
            is_multi_worker()

    def test_the_shared_flag_maps_earlier_names_and_refuses_others(self, capsys):
        parser = experiment_parser("exp", "doc")
        assert parser.parse_args([]).strategy == "auto" and parser.parse_args([]).mixed_precision is False
        assert parser.parse_args(["--strategy", "multi_worker"]).strategy == "multiworker"
        assert parser.parse_args(["--strategy", "default"]).strategy == "cpu"
        with pytest.raises(SystemExit):
            parser.parse_args(["--strategy", "gpu"])
        assert "invalid choice: 'gpu'" in capsys.readouterr().err


class TestGlobalBatch:
    @pytest.mark.parametrize(
        "replicas, batch, sizes",
        [(1, 128, [128]), (2, 128, [64, 64]), (3, 100, [34, 33, 33]), (8, 8, [1] * 8)],
    )
    def test_split_between_replicas(self, replicas, batch, sizes):
        assert replica_batch_sizes(SimpleNamespace(num_replicas_in_sync=replicas), batch) == sizes

    def test_a_batch_smaller_than_the_replicas_is_refused(self):
        with pytest.raises(ValueError, match="Received: batch_size=3"):
            replica_batch_sizes(SimpleNamespace(num_replicas_in_sync=4), 3)

    def test_describe_the_default_strategy(self):
        text = describe(tf.distribute.get_strategy(), 128)
        assert (
            text
            == "the default strategy, 1 replica (no distribution); global batch 128 = 1 x 128 per replica"
        )


@pytest.fixture
def float32_afterwards():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


class TestMixedPrecision:
    def test_bfloat16_on_the_cpu_with_float32_variables(self, float32_afterwards):
        expected = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
        assert set_mixed_precision(True) == expected
        layer = keras.layers.Dense(3)
        outputs = layer(np.ones((2, 4), "float32"))
        assert outputs.dtype == expected.removeprefix("mixed_") and layer.kernel.dtype == "float32"
        assert set_mixed_precision(False) == "float32"
        assert keras.layers.Dense(3)(np.ones((2, 4), "float32")).dtype == "float32"

    def test_float16_loss_scaling_unscales_the_norm_and_the_clip(self, float32_afterwards):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(32, 6)).astype("float32")
        y = (x[:, 0] > 0).astype("int64")

        def model():
            keras.utils.set_random_seed(1)
            return keras.Sequential(
                [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)]
            )

        reference = model()  # float32: the oracle for the norm
        with tf.GradientTape() as tape:
            loss = LOSS(y, reference(x, training=True))
        norm = float(tf.linalg.global_norm(tape.gradient(loss, reference.trainable_variables)))

        keras.mixed_precision.set_dtype_policy("mixed_float16")
        mixed = model()
        start = [w.copy() for w in mixed.get_weights()]
        loop = TrainingLoop(mixed, keras.optimizers.SGD(1.0), LOSS, clip_global_norm=norm / 4)
        assert isinstance(loop.optimizer, keras.optimizers.LossScaleOptimizer)
        history = loop.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), verbose=0)
        # The loss was scaled by 2**15 before differentiating; the norm and the clip are the unscaled ones
        # (float16 arithmetic: agreement to about 1e-3).
        assert float(loop.optimizer.dynamic_scale) == 2.0**15
        assert history["gradient_norm"][0] == pytest.approx(norm, rel=1e-2)
        step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(mixed.get_weights(), start, strict=True)))
        assert step == pytest.approx(norm / 4, rel=1e-2)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, tempfile, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from kerasdl.training.distribute import make_strategy
    from kerasdl.training.multiworker import MultiWorkerLoop

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")

    def train(strategy):
        keras.utils.set_random_seed(1)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(120, seed=2).batch(20)
        with strategy.scope():
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="tanh"),
                                      keras.layers.Dense(3)])
            optimizer = keras.optimizers.SGD(0.1)
        loop = MultiWorkerLoop(model, optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                               strategy=strategy)
        losses = []  # the epoch's running mean loss after every step
        loop.fit(dataset, 3, checkpoint_dir=tempfile.mkdtemp(), verbose=0,
                 on_step_end=lambda step: losses.append(float(loop.train_metrics["loss"].result())))
        return losses, model.get_weights()

    mirrored = make_strategy("mirrored", batch_size=20)
    one, one_weights = train(make_strategy("cpu"))
    two, two_weights = train(mirrored)
    print("RESULT" + json.dumps({
        "replicas": mirrored.num_replicas_in_sync, "one": one, "two": two,
        "weight_difference": max(float(np.abs(a - b).max()) for a, b in zip(one_weights, two_weights)),
    }))
    """
)


@pytest.mark.slow  # a fresh TensorFlow process; the fast suite has TrainingLoop's mirrored test
def test_mirrored_over_two_cpu_devices_follows_the_one_device_loss_trajectory():
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, completed.stderr[-3000:]
    result = json.loads(line[len("RESULT") :])
    assert result["replicas"] == 2
    assert (
        "tf.distribute: MirroredStrategy, 2 replicas (CPU:0, CPU:1); global batch 20 = 2 x 10 per replica"
        in (completed.stdout)
    )
    one, two = np.array(result["one"]), np.array(result["two"])
    assert len(one) == len(two) == 18  # 3 epochs of 6 steps
    # Tolerance: both runs do the same float32 arithmetic except that two replicas average 10 examples
    # each and sum the halves' gradients, where one device averages 20: the sums are rounded in another
    # order (float32 epsilon 1.2e-7 per operation), and 18 SGD steps carry those differences forward
    # (measured: 1.6e-7 relative at most, weights within 6e-8). 1e-5 relative leaves a margin of about
    # 60 above that, while a real fault (a gradient not divided by the replicas is twice as large; a
    # replica's half-batch lost) moves the losses by 1e-2 or more.
    np.testing.assert_allclose(two, one, rtol=1e-5)
    assert result["weight_difference"] < 1e-5
    assert one[-1] < one[0]  # it trained: the trajectories compared are not flat
