"""experiments.hparam_search: sampling on the lesson's scales, coarse to fine, and an end-to-end smoke run."""

import json
import math

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import hparam_search
from experiments.hparam_search import SearchSpace
from kerasdl.harness.run import changed_flags

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
            "--epochs", "2", "--coarse-trials", "2", "--fine-trials", "1", "--workers", "2"]  # fmt: skip
    assert hparam_search.main(argv) == 0
    run_dir = logdir / "hparam_search" / "smoke"
    assert "_hparams_/experiment" in EventAccumulator(str(run_dir)).Reload().Tags()["tensors"]
    results = json.loads((run_dir / "results.json").read_text())
    trials = results["details"]["trials"]
    names = sorted(trial["name"] for trial in trials)
    assert names == ["coarse-00", "coarse-01", "fine-00"]
    for name in names:
        trial_dir = run_dir / hparam_search.TRIALS / name
        session = EventAccumulator(str(trial_dir)).Reload()
        assert {"_hparams_/session_start_info", "dev_error", "train_error"} <= set(session.Tags()["tensors"])
        assert len(session.Tensors("_hparams_/session_start_info")) == 1
        for split in ("train", "dev"):  # the harness's one tag scheme, written by the worker
            assert {"loss", "error"} <= set(
                EventAccumulator(str(trial_dir / split)).Reload().Tags()["tensors"]
            )
        assert json.loads((run_dir / "phases" / "trial" / f"{name}.json").read_text())["state"] == "done"
    fine = next(t for t in trials if t["stage"] == "fine")
    low, high = results["details"]["fine_space"]["log_lr"]
    assert low <= math.log10(fine["learning_rate"]) <= high
    ok = [t for t in trials if t["status"] == "ok"]
    assert [t["dev_error"] for t in ok] == sorted(t["dev_error"] for t in ok)  # ranked
    for trial in ok:  # the errors are the last points of the trial's curves, every epoch kept
        assert trial["history"]["epoch"] == [1, 2]
        assert trial["dev_error"] == trial["history"]["dev"]["error"][-1]
        assert results["metrics"][f"{trial['name']}/dev_error"] == trial["dev_error"]
    assert results["metrics"]["best_dev_error"] == trials[0]["dev_error"]


def test_resume_may_change_the_number_of_workers_only():
    """Parallelism changes neither data nor models; another --epochs would mix trials of two searches."""
    saved = vars(hparam_search.parse_args(["--workers", "2"])[0])
    resumed = vars(hparam_search.parse_args(["--workers", "1", "--epochs", "5"])[0])
    assert changed_flags(saved, resumed, hparam_search.SAFE_TO_CHANGE) == ["--epochs: 3 -> 5"]
