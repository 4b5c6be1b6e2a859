"""kerasdl.harness.variants: profile flags, the resumable variant loop, one variant's fit, the final table."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasdl.harness.cli import experiment_parser
from kerasdl.harness.results import read_results
from kerasdl.harness.run import FINISHED, start_run
from kerasdl.harness.variants import (
    add_profile_flags,
    apply_profile,
    finish_with_table,
    fit_variant,
    train_variants,
)

PROFILES = {"default": (500, 200, 4), "full": (9000, 1000, 20)}  # train_size, dev_size, epochs


def parse(*argv):
    parser = experiment_parser("exp", "doc")
    add_profile_flags(parser, PROFILES, epochs_help="epochs per run")
    args = parser.parse_args(list(argv))
    apply_profile(args, PROFILES)
    return args, parser


class TestProfiles:
    def test_the_profile_fills_what_the_flags_leave_out(self):
        args, _ = parse("--profile", "full", "--epochs", "3")
        assert (args.train_size, args.dev_size, args.epochs) == (9000, 1000, 3)
        args, _ = parse("--dev-size", "50")
        assert (args.train_size, args.dev_size, args.epochs) == (500, 50, 4)

    def test_help_describes_every_profile(self):
        text = " ".join(parse()[1].format_help().split())
        assert "default: 500 training examples, 4 epochs; full: 9,000 training examples, 20 epochs" in text
        assert "epochs per run (overrides the profile)" in text

    def test_the_data_flags_come_with_the_profile_and_are_checked(self, capsys):
        args, _ = parse("--batch-size", "32")
        assert (args.batch_size, args.data_dir) == (32, None)
        with pytest.raises(SystemExit):
            parse("--epochs", "0")
        assert capsys.readouterr().err == "error: --epochs must be at least 1; received 0\n"

    def test_an_unknown_profile_is_refused(self, capsys):
        with pytest.raises(SystemExit):
            parse("--profile", "huge")
        assert "invalid choice: 'huge'" in capsys.readouterr().err


def start(logdir, *flags):
    return start_run("exp", {"logdir": str(logdir), "run_name": "r", **dict.fromkeys(flags, True)})


class TestTrainVariants:
    def test_trains_each_variant_and_saves_it_as_a_phase(self, logdir):
        run = start(logdir)
        saved = []

        def train(name):
            if saved:  # the previous variant's result is on disk before the next one starts
                assert run.phases.record(f"variant/{saved[-1]}")["result"] == {"error": len(saved[-1])}
            saved.append(name)
            return {"error": len(name)}

        results = train_variants(run, ["a", "bb"], train)
        assert results == {"a": {"error": 1}, "bb": {"error": 2}}
        assert [r["name"] for r in run.phases.records()] == ["variant/a", "variant/bb"]

    def test_resume_skips_the_finished_variants(self, logdir, capsys):
        first = start(logdir)
        train_variants(first, ["a"], lambda name: {"error": 0.5})
        resumed = start(logdir, "resume")
        assert resumed.dir == first.dir and resumed.resumed
        trained = []
        results = train_variants(resumed, ["a", "b"], lambda name: trained.append(name) or {"error": 0.25})
        assert trained == ["b"]
        assert results == {"a": {"error": 0.5}, "b": {"error": 0.25}}

    def test_a_new_run_ignores_an_old_runs_results(self, logdir):
        train_variants(start(logdir), ["a"], lambda name: {"error": 0.5})
        trained = []
        train_variants(start(logdir), ["a"], lambda name: trained.append(name) or {})
        assert trained == ["a"]


def tiny_data(seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(64, 4, 4, 1)).astype("float32"), rng.integers(0, 3, 64)

    def fresh_train():
        return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=seed).batch(16)

    return types.SimpleNamespace(
        fresh_train=fresh_train,
        train_eval=tf.data.Dataset.from_tensor_slices((x, y)).batch(64),
        dev=tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(32),
    )


def softmax_model():
    layers = [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")]
    return keras.Sequential(layers)


class TestFitVariant:
    def test_logs_the_curves_and_backs_up_every_variant(self, logdir):
        run, data, initial_weights, models = start(logdir), tiny_data(), [], []

        def make_model():
            model = softmax_model()
            initial_weights.append(model.get_weights())
            models.append(model)
            return model

        histories = [
            fit_variant(
                run,
                name,
                data,
                make_model,
                lambda: keras.optimizers.SGD(0.1),
                epochs=2,
                seed=3,
                strategy=tf.distribute.get_strategy(),
            )
            for name in ("first", "second")
        ]
        assert histories[0]["epoch"] == [1, 2] and len(histories[0]["dev"]["error"]) == 2
        assert histories[0]["gap"] == pytest.approx(
            np.subtract(histories[0]["dev"]["error"], histories[0]["train"]["error"])
        )
        # The seed is set before each model is made: every variant starts from the same weights.
        for first, second in zip(*initial_weights, strict=True):
            np.testing.assert_array_equal(first, second)
        # ... and sees the same batches in the same order: the same optimizer ends at the same weights
        # (with one shared, reshuffling dataset the second variant's epochs had other orders).
        for first, second in zip(*(model.get_weights() for model in models), strict=True):
            np.testing.assert_array_equal(first, second)
        for name in ("first", "second"):
            assert (run.dir / "backup" / name).is_dir()
            for split in ("train", "dev"):
                tags = EventAccumulator(str(run.dir / name / split)).Reload().Tags()["tensors"]
                assert {"loss", "error"} <= set(tags)

    def test_a_variant_resumed_after_its_last_epoch_reports_every_epoch(self, logdir):
        def fit(run, epochs):
            return fit_variant(run, "v", tiny_data(), softmax_model, lambda: keras.optimizers.SGD(0.1),
                               epochs=epochs, seed=0, strategy=tf.distribute.get_strategy())  # fmt: skip

        straight = fit(start(logdir / "a"), 3)
        fit(start(logdir / "b"), 3)  # stopped after its last backup, before the variant's phase was saved
        resumed = fit(start(logdir / "b", "resume"), 3)  # trains nothing, reads every epoch back
        assert resumed == straight and resumed["epoch"] == [1, 2, 3]

    def test_extra_callbacks_run_before_the_backup(self, logdir):
        run, order = start(logdir), []

        class Recorder(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                backups = list((run.dir / "backup" / "v").rglob("*"))
                order.append(len(backups))

        optimizer = keras.optimizers.SGD
        fit_variant(run, "v", tiny_data(), softmax_model, lambda: optimizer(0.1), epochs=1, seed=0,
                    strategy=tf.distribute.get_strategy(), callbacks=[Recorder()])  # fmt: skip
        assert order == [0]  # no backup yet when the extra callback ran
        assert list((run.dir / "backup" / "v").rglob("*"))


def test_finish_with_table_prints_logs_and_finishes(logdir, capsys):
    run = start(logdir)
    results = {"adam": {"dev_error": 0.25, "status": "ok"}, "sgd": {"dev_error": None, "status": "diverged"}}
    finish_with_table(run, "| a | b |\n|---|---|\n", results, step=7)
    assert "| a | b |" in capsys.readouterr().out
    (event,) = EventAccumulator(str(run.dir / "summary")).Reload().Tensors("summary")
    assert event.step == 7 and (run.dir / FINISHED).exists()
    document = read_results(run.dir)
    assert document["metrics"] == {"adam/dev_error": 0.25, "sgd/dev_error": None}
    assert document["details"] == {"variants": results}
    assert (run.dir / "summary.md").read_text() == "| a | b |\n|---|---|\n"
