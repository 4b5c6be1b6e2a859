import json
import os
import threading

import numpy as np
import pytest
import tensorflow as tf

from kerasdl.harness.cli import experiment_parser
from kerasdl.harness.run import (
    changed_flags,
    new_run_dir,
    resumable_run_dir,
    set_seeds,
    start_run,
)
from kerasdl.training.distribute import is_chief, make_strategy
from kerasdl.training.io import atomic_write_text


class TestRunDirectory:
    def test_new_directory_per_run_never_overwritten(self, logdir):
        first = new_run_dir("exp", logdir, name="same")
        (first / "marker").write_text("keep")
        second = new_run_dir("exp", logdir, name="same")
        assert first != second and second.name == "same-2"
        assert (first / "marker").read_text() == "keep"

    def test_concurrent_runs_get_distinct_directories(self, logdir):
        made = []
        threads = [
            threading.Thread(target=lambda: made.append(new_run_dir("exp", logdir, "t"))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(made)) == 8

    @pytest.mark.parametrize("name", ["../escape", "a/b", "", "/tmp/absolute", ".hidden", "..", "a\\b"])
    def test_rejects_bad_names(self, logdir, name):
        with pytest.raises(ValueError, match="Received: run_name="):
            new_run_dir("exp", logdir, name=name)
        with pytest.raises(ValueError, match="Received: run_name="):
            resumable_run_dir("exp", logdir, name=name)
        with pytest.raises(ValueError, match="Received: experiment_name="):
            new_run_dir(name, logdir)

    def test_start_run_saves_resolved_config_and_writes_events(self, logdir):
        args = experiment_parser("exp", "doc").parse_args(["--logdir", str(logdir), "--seed", "3"])
        run = start_run("exp", vars(args))
        saved = json.loads((run.dir / "config.json").read_text())
        assert saved["config"]["seed"] == 3 and saved["config"]["run_dir"] == str(run.dir)
        assert saved["versions"]["tensorflow"] == tf.__version__
        with run.writer("dev").as_default():
            tf.summary.scalar("error", 0.25, step=1)
        run.close()
        assert any(p.name.startswith("events.out.tfevents") for p in (run.dir / "dev").iterdir())

    @pytest.mark.parametrize("echo", [False, True])
    def test_finish_prints_the_summary_only_when_asked_then_how_to_open_the_run(self, logdir, capsys, echo):
        run = start_run("exp", {"logdir": str(logdir), "run_name": f"echo-{echo}"})
        capsys.readouterr()
        run.finish(summary="| a |\n|---|", echo=echo)
        closing = f"\nRun finished: {run.dir}\nOpen it in TensorBoard: tensorboard --logdir {run.dir}\n"
        assert capsys.readouterr().out == ("\n| a |\n|---|\n" if echo else "") + closing
        assert (run.dir / "summary.md").read_text() == "| a |\n|---|\n"


class TestSeeds:
    def test_same_seed_same_numbers(self):
        set_seeds(7)
        a = (np.random.rand(3), tf.random.uniform([3]).numpy())
        set_seeds(7)
        b = (np.random.rand(3), tf.random.uniform([3]).numpy())
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    def test_rejects_negative_seed(self):
        with pytest.raises(ValueError, match="Received: seed=-1"):
            set_seeds(-1)


class TestDistribute:
    def test_auto_on_cpu_and_unknown_name(self):
        assert make_strategy("auto").num_replicas_in_sync == 1
        assert make_strategy("one_device").num_replicas_in_sync == 1
        with pytest.raises(ValueError, match="Received: strategy='gpu'"):
            make_strategy("gpu")

    @pytest.mark.parametrize(
        "config, chief",
        [
            ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}, True),
            ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}, False),
            ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "worker", "index": 0}}, False),
            ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "chief", "index": 0}}, True),
        ],
    )
    def test_is_chief_reads_tf_config(self, monkeypatch, config, chief):
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
        assert is_chief() is chief


def test_atomic_write_keeps_previous_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "file.txt"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


class TestResumeRuns:
    def start(self, logdir, *flags):
        args = experiment_parser("exp", "doc").parse_args(["--logdir", str(logdir), *flags])
        return start_run("exp", vars(args))

    def test_without_resume_every_run_is_new(self, logdir):
        first = self.start(logdir, "--run-name", "r")
        second = self.start(logdir, "--run-name", "r")
        assert second.dir != first.dir and not second.resumed

    def test_resume_reopens_the_newest_unfinished_run(self, logdir):
        older = self.start(logdir, "--run-name", "older")
        newer = self.start(logdir, "--run-name", "newer", "--seed", "1")
        self.start(logdir, "--run-name", "done").finish()
        config_before = (newer.dir / "config.json").read_text()
        resumed = self.start(logdir, "--resume", "--seed", "1")
        assert resumed.dir == newer.dir != older.dir and resumed.resumed
        assert (newer.dir / "config.json").read_text() == config_before  # nothing overwritten
        record = json.loads((newer.dir / "resume-1.json").read_text())
        assert record["config"]["seed"] == 1 and record["forced_changes"] == []

    def test_resume_with_a_changed_flag_is_one_error_line_naming_old_and_new(self, logdir, capsys):
        run = self.start(logdir, "--run-name", "r", "--seed", "1")
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            self.start(logdir, "--resume", "--run-name", "r", "--seed", "2", "--deterministic")
        assert exit_info.value.code == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"error: --resume of {run.dir} with other settings")
        assert "--deterministic: False -> True; --seed: 1 -> 2" in line and "--force" in line
        assert not list(run.dir.glob("resume-*.json"))  # refused before anything is written

    def test_force_continues_and_records_the_forced_changes(self, logdir, capsys):
        run = self.start(logdir, "--run-name", "r", "--seed", "1")
        resumed = self.start(logdir, "--resume", "--run-name", "r", "--seed", "2", "--force")
        assert resumed.dir == run.dir and resumed.config["seed"] == 2
        record = json.loads((run.dir / "resume-1.json").read_text())
        assert record["forced_changes"] == ["--seed: 1 -> 2"]
        assert "Forced changes: --seed: 1 -> 2." in capsys.readouterr().out
        # A forced change invalidates every saved phase: the configuration is another one.
        assert resumed.phases.fingerprint != run.phases.fingerprint

    def test_flags_declared_safe_may_change(self, logdir):
        parser = experiment_parser("exp", "doc")
        parser.add_argument("--epochs", type=int, default=2)
        first = start_run("exp", vars(parser.parse_args(["--logdir", str(logdir), "--run-name", "r"])))
        again = vars(
            parser.parse_args(["--logdir", str(logdir), "--run-name", "r", "--resume", "--epochs", "5"])
        )
        resumed = start_run("exp", again, safe_to_change={"epochs"})
        assert resumed.dir == first.dir and resumed.config["epochs"] == 5

    def test_changed_flags_ignores_where_the_run_is(self):
        saved = {"logdir": "a", "run_name": "r", "resume": False, "seed": 0, "epochs": 2}
        now = {"logdir": "b", "run_name": None, "resume": True, "seed": 0, "epochs": 3, "force": True}
        assert changed_flags(saved, now) == ["--epochs: 2 -> 3"]
        assert changed_flags(saved, now, safe={"epochs"}) == []

    def test_a_flag_newer_than_the_run_changes_nothing_while_it_is_off(self):
        saved = {"seed": 0}  # a run started before --mixed-precision existed
        assert changed_flags(saved, {"seed": 0, "mixed_precision": False}) == []
        assert changed_flags(saved, {"seed": 0, "mixed_precision": True}) == [
            "--mixed-precision: None -> True"
        ]

    @pytest.mark.parametrize("name", ["../x", "/tmp/absolute", "a/b"])
    def test_bad_run_names_are_one_error_line_new_or_resumed(self, logdir, capsys, name):
        for flags in ([], ["--resume"]):
            with pytest.raises(SystemExit) as exit_info:
                self.start(logdir, "--run-name", name, *flags)
            assert exit_info.value.code == 2
            (line,) = capsys.readouterr().err.splitlines()
            assert line.startswith("error: Invalid run name") and repr(name) in line
        assert not logdir.exists() or not any(logdir.rglob("*"))  # nothing written anywhere

    def test_a_finished_run_is_never_reopened(self, logdir, capsys):
        run = self.start(logdir, "--run-name", "r")
        run.finish()
        assert run.finished
        again = self.start(logdir, "--resume")
        assert again.dir != run.dir and not again.resumed
        assert "no unfinished run" in capsys.readouterr().out
        with pytest.raises(ValueError, match="finished; it is never reopened.*Received: run_name='r'"):
            resumable_run_dir("exp", logdir, "r")
        with pytest.raises(ValueError, match="no run 'nope' to resume"):
            resumable_run_dir("exp", logdir, "nope")

    def test_resume_of_a_finished_or_missing_run_is_one_error_line(self, logdir, capsys):
        self.start(logdir, "--run-name", "r").finish()
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            self.start(logdir, "--resume", "--run-name", "r")
        assert exit_info.value.code == 2
        (line,) = capsys.readouterr().err.splitlines()
        run_dir = logdir / "exp" / "r"
        assert line.startswith(f"error: Run {run_dir} finished; it is never reopened.")
        assert "Pick a new --run-name" in line and f"delete {run_dir}" in line
        with pytest.raises(SystemExit) as exit_info:
            self.start(logdir, "--resume", "--run-name", "nope")
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.startswith("error: There is no run 'nope' to resume")
        assert sorted(p.name for p in (logdir / "exp").iterdir()) == ["r"]
        assert sorted(p.name for p in run_dir.iterdir()) == [
            "FINISHED",
            "config.json",
            "phases",
            "results.json",
        ]

    def test_resume_callbacks_back_up_into_the_run(self, logdir):
        import keras

        from kerasdl.training.backup import BackupAndRestore, BackupStore
        from kerasdl.training.nan_guard import NanGuard

        run = self.start(logdir)
        guard, backup, stop_hook = run.resume_callbacks()
        assert isinstance(guard, NanGuard) and isinstance(backup, BackupAndRestore)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        model.fit(
            np.zeros((8, 2)), np.zeros((8, 1)), epochs=2, callbacks=[guard, backup, stop_hook], verbose=0
        )
        assert BackupStore(run.backup_dir).latest_position()["epoch"] == 2
        _, named, _ = run.resume_callbacks(name="pretrain")
        assert named.store.directory == run.backup_dir / "pretrain"
        with pytest.raises(ValueError, match="Received: backup_name='../x'"):
            run.resume_callbacks(name="../x")
        stop, _, _ = run.resume_callbacks(on_nan="stop")
        assert isinstance(stop, keras.callbacks.TerminateOnNaN)
        with pytest.raises(ValueError, match="Received: on_nan='ignore'"):
            run.resume_callbacks(on_nan="ignore")


def _tf_config(index: int, workers=("127.0.0.1:1", "127.0.0.1:2")) -> str:
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}})


def _files(root) -> dict:
    """Every file under `root` with its size and modification time: what changed, if anything."""
    return {
        path: (path.stat().st_size, path.stat().st_mtime_ns) for path in root.rglob("*") if path.is_file()
    }


class TestClusterRuns:
    """Every worker of a cluster runs the same script: one run directory, written by the chief only."""

    def start(self, monkeypatch, logdir, index, *flags, workers=("127.0.0.1:1", "127.0.0.1:2")):
        monkeypatch.setenv("TF_CONFIG", _tf_config(index, workers))
        args = experiment_parser("exp", "doc").parse_args(["--logdir", str(logdir), *flags])
        return start_run("exp", vars(args), multiworker_loop=True)

    def test_every_worker_derives_the_same_directory_and_only_the_chief_creates_it(self, logdir, monkeypatch):
        worker = self.start(monkeypatch, logdir, 1)  # a worker may well start before the chief
        assert not logdir.exists() or _files(logdir) == {}
        chief = self.start(monkeypatch, logdir, 0)
        assert chief.dir == worker.dir and chief.dir.name.startswith("multiworker-")
        assert [path.name for path in chief.dir.iterdir()] == ["config.json"]
        # Another cluster, or other settings, is another run; --run-name names it outright.
        assert self.start(monkeypatch, logdir, 1, workers=("127.0.0.1:3", "127.0.0.1:2")).dir != chief.dir
        assert self.start(monkeypatch, logdir, 1, "--seed", "4").dir != chief.dir
        assert self.start(monkeypatch, logdir, 1, "--run-name", "named").dir == logdir / "exp" / "named"

    def test_a_worker_reads_the_chiefs_phases_and_writes_nothing(self, logdir, monkeypatch):
        chief = self.start(monkeypatch, logdir, 0)
        assert chief.once("split", lambda: {"sizes": [3, 1]}) == {"sizes": [3, 1]}
        worker = self.start(monkeypatch, logdir, 1)
        before = _files(logdir)

        def recompute():
            raise AssertionError("the chief recorded this phase as done")

        assert worker.once("split", recompute) == {"sizes": [3, 1]}
        assert worker.once("only_here", lambda: 5) == 5
        with worker.phase("train"):
            worker.save_json("data.json", {"a": 1})
            with worker.writer("dev").as_default():
                tf.summary.scalar("error", 0.5, step=1)
            worker.curves.log("dev", "loss", 1, 0.5)
            worker.curves.save()
        worker.finish(metrics={"error": 0.5}, summary="| a |")
        assert _files(logdir) == before

    def test_a_restarted_cluster_continues_its_run_and_a_finished_one_is_refused(
        self, logdir, monkeypatch, capsys
    ):
        first = self.start(monkeypatch, logdir, 0, "--run-name", "r")
        assert not first.resumed
        again = self.start(monkeypatch, logdir, 0, "--run-name", "r")  # the same command after a preemption
        assert again.dir == first.dir and again.resumed
        assert [path.name for path in first.dir.glob("resume-*.json")] == ["resume-1.json"]
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            self.start(monkeypatch, logdir, 1, "--run-name", "r", "--seed", "3")
        assert exit_info.value.code == 2 and "--seed: 0 -> 3" in capsys.readouterr().err
        monkeypatch.setenv("TF_CONFIG", _tf_config(0))  # back on the chief: it finishes the run
        again.finish()
        for index in (0, 1):
            with pytest.raises(SystemExit) as exit_info:
                self.start(monkeypatch, logdir, index, "--run-name", "r")
            assert exit_info.value.code == 2
            assert "finished; it is never reopened" in capsys.readouterr().err


@pytest.fixture
def float32_afterwards():
    yield
    import keras

    keras.mixed_precision.set_dtype_policy("float32")


def test_the_mixed_precision_flag_sets_the_policy_of_the_models_built_after_start_run(
    logdir, float32_afterwards
):
    import keras

    parser = experiment_parser("exp", "doc")
    start_run("exp", vars(parser.parse_args(["--logdir", str(logdir), "--mixed-precision"])))
    expected = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == expected
    start_run("exp", vars(parser.parse_args(["--logdir", str(logdir)])))
    assert keras.mixed_precision.global_policy().name == "float32"


class TestHParams:
    """`finish(hparams=True)`: one HParams row per run, read back the way the plugin stores it."""

    def test_flags_become_hyperparameters_and_metrics_become_final_scalars(self, logdir):
        from tensorboard.plugins.hparams import metadata as hparams_metadata

        from tests.events import scalar_points, tag_events

        config = {"logdir": str(logdir), "run_name": "row", "learning_rate": 0.01, "cell": "lstm",
                  "deterministic": False, "layers": [2, 3]}  # fmt: skip
        run = start_run("exp", config)
        run.finish(metrics={"dev_error": 0.25, "diverged": None, "infinite": float("inf")}, hparams=True)

        (content,) = [
            value.metadata.plugin_data.content
            for path in sorted((run.dir / "hparams").glob("events.out.tfevents*"))
            for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value
            if value.tag == hparams_metadata.SESSION_START_INFO_TAG
        ]
        info = hparams_metadata.parse_session_start_info_plugin_data(content)
        values = {name: getattr(value, value.WhichOneof("kind")) for name, value in info.hparams.items()}
        assert values == {"learning_rate": 0.01, "cell": "lstm", "deterministic": False}
        assert info.group_name == "exp/row"
        assert scalar_points(run.dir / "hparams", "final/dev_error") == [(0, 0.25)]
        assert tag_events(run.dir / "hparams", "final/diverged") == []
        assert tag_events(run.dir / "hparams", "final/infinite") == []

    def test_off_by_default(self, logdir):
        run = start_run("exp", {"logdir": str(logdir), "run_name": "plain"})
        run.finish(metrics={"dev_error": 0.25})
        assert not (run.dir / "hparams").exists()


class TestMultiworkerNeedsTheCustomLoop:
    """Keras' fit fails under MultiWorkerMirroredStrategy here: experiments on fit refuse it in one line."""

    @pytest.mark.parametrize("strategy", ["multiworker", "multi_worker"])
    def test_refused_without_the_loop(self, logdir, capsys, strategy):
        with pytest.raises(SystemExit) as stop:
            start_run("exp", {"logdir": str(logdir), "strategy": strategy})
        assert stop.value.code == 2
        error = capsys.readouterr().err
        assert "keras#20585" in error and "experiments.distributed" in error and repr(strategy) in error
        assert not (logdir / "exp").exists()

    def test_auto_in_a_cluster_is_refused_too(self, logdir, capsys, monkeypatch):
        cluster = {
            "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
            "task": {"type": "worker", "index": 0},
        }
        monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
        with pytest.raises(SystemExit):
            start_run("exp", {"logdir": str(logdir), "strategy": "auto"})
        assert "with a TF_CONFIG cluster" in capsys.readouterr().err

    def test_other_strategies_pass(self, logdir):
        run = start_run("exp", {"logdir": str(logdir), "strategy": "cpu", "run_name": "fine"})
        run.finish()
        assert run.finished
