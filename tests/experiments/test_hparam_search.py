"""experiments.hparam_search: sampling on the lesson's scales, coarse to fine, and an end-to-end smoke run."""

import json
import math

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import hparam_search
from experiments.hparam_search import SearchSpace

SPACE = SearchSpace(log_lr=(-4.0, -1.0), beta_r=(-3.0, -1.0), units=(16, 256), layers=(1, 3))


class TestSampling:
    def test_learning_rate_is_uniform_in_its_exponent(self):
        rng = np.random.default_rng(0)
        rates = np.array([SPACE.sample(rng)["learning_rate"] for _ in range(6000)])
        assert rates.min() >= 1e-4 and rates.max() <= 1e-1
        # Each decade gets a third of the samples; uniform sampling would put 90% in the top decade.
        per_decade = np.histogram(np.log10(rates), bins=[-4, -3, -2, -1])[0] / len(rates)
        np.testing.assert_allclose(per_decade, 1 / 3, atol=0.03)

    def test_beta1_is_sampled_through_one_minus_beta(self):
        rng = np.random.default_rng(1)
        betas = np.array([SPACE.sample(rng)["beta1"] for _ in range(6000)])
        assert betas.min() >= 0.9 and betas.max() <= 0.999
        # As many samples in 0.99..0.999 as in 0.9..0.99 (a linear scale would put 1/11 in the former).
        assert abs(np.mean(betas > 0.99) - 0.5) < 0.03

    def test_fine_space_is_around_the_best_and_inside_the_coarse_one(self):
        best = {"learning_rate": 3e-3, "beta1": 0.99, "units": 250, "layers": 1}
        fine = SPACE.around(best)
        assert fine.log_lr == (math.log10(3e-3) - 0.375, math.log10(3e-3) + 0.375)
        assert np.allclose(fine.beta_r, (-2.25, -1.75))
        assert fine.units == (220, 256)  # 250 -+ 240 / 8, clipped at the coarse maximum
        assert fine.layers == (1, 1)  # 1 -+ 0.25, rounded
        assert SPACE.around({**best, "layers": 2}).layers == (2, 2)
        rng = np.random.default_rng(2)
        for _ in range(200):
            trial = fine.sample(rng)
            assert fine.log_lr[0] <= math.log10(trial["learning_rate"]) <= fine.log_lr[1]
            assert 220 <= trial["units"] <= 256


def test_smoke_run_logs_every_trial_to_the_hparams_dashboard(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "smoke", "--train-size", "300", "--dev-size", "200",
            "--epochs", "1", "--coarse-trials", "2", "--fine-trials", "1", "--workers", "2"]  # fmt: skip
    assert hparam_search.main(argv) == 0
    run_dir = logdir / "hparam_search" / "smoke"
    assert "_hparams_/experiment" in EventAccumulator(str(run_dir)).Reload().Tags()["tensors"]
    results = json.loads((run_dir / "results.json").read_text())
    names = sorted(trial["name"] for trial in results["trials"])
    assert names == ["coarse-00", "coarse-01", "fine-00"]
    for name in names:
        session = set(EventAccumulator(str(run_dir / "trials" / name)).Reload().Tags()["tensors"])
        assert {"_hparams_/session_start_info", "dev_error", "train_error"} <= session
        validation = EventAccumulator(str(run_dir / "trials" / name / "validation")).Reload()
        assert "epoch_loss" in validation.Tags()["tensors"]
    fine = next(t for t in results["trials"] if t["stage"] == "fine")
    low, high = results["fine_space"]["log_lr"]
    assert low <= math.log10(fine["learning_rate"]) <= high
    assert all(0 <= t["dev_error"] <= 1 for t in results["trials"] if t["status"] == "ok")


def test_resume_skips_finished_trials_and_continues_from_the_backups(fashion_mnist_all, logdir):
    argv = ["--logdir", str(logdir), "--run-name", "cut", "--train-size", "300", "--dev-size", "200",
            "--epochs", "1", "--coarse-trials", "2", "--fine-trials", "0", "--workers", "1"]  # fmt: skip
    assert hparam_search.main(argv) == 0
    run_dir = logdir / "hparam_search" / "cut"
    whole = json.loads((run_dir / "results.json").read_text())
    # Make it an interrupted run: coarse-00 finished (its result marked), coarse-01 trained but not saved.
    (run_dir / "FINISHED").unlink()
    (run_dir / "results.json").unlink()
    finished = run_dir / "trials" / "coarse-00" / hparam_search.TRIAL_RESULT
    finished.write_text(json.dumps({**json.loads(finished.read_text()), "marker": 1}))
    (run_dir / "trials" / "coarse-01" / hparam_search.TRIAL_RESULT).unlink()
    assert (run_dir / "backup" / "coarse-01" / "manifest.json").exists()

    assert hparam_search.main([*argv, "--resume"]) == 0
    assert (run_dir / "FINISHED").exists()
    trials = {t["name"]: t for t in json.loads((run_dir / "results.json").read_text())["trials"]}
    assert trials["coarse-00"].pop("marker") == 1  # skipped, not trained again
    by_name = sorted(whole["trials"], key=lambda t: t["name"])
    assert sorted(trials.values(), key=lambda t: t["name"]) == by_name  # the same errors
    session = EventAccumulator(str(run_dir / "trials" / "coarse-01")).Reload()
    assert len(session.Tensors("_hparams_/session_start_info")) == 1
