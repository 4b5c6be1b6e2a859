"""Test-time cost and accuracy gain of 10-crop and of an ensemble, on Fashion-MNIST test.

Runs `experiments.augmentation` (default profile unless flags are passed
through) and prints, from that one run:

- `multicrop_time_ratio`: 10-crop prediction time over single-crop (goal <=
  10: the 10 crops go through the network as one batch, so the cost is at
  most the 10x more arithmetic). The test set is predicted in blocks, single
  and 10-crop alternating block by block, and the ratio is the median of the
  blocks' ratios (`kerasdl.evaluation.multicrop.evaluate_multicrop`), so a load spike
  on a shared machine during one side no longer decides it;
- `multicrop_accuracy_gain`: 10-crop minus centre-crop test accuracy of the
  augmented model, with the flips right -> wrong and wrong -> right and the
  exact McNemar p-value of that split (`multicrop_mcnemar_p`: below 0.05,
  the gain is unlikely to be the luck of this test set);
- `ensemble_accuracy_gain`: ensemble minus mean-member test accuracy (and
  over the best member, with McNemar's p-value against it), with the
  ensemble's prediction-time ratio;
- `augmentation_accuracy_gain`: augmented minus baseline test accuracy.

Run (about 5 minutes on 2 CPU cores; noisy on a shared machine):
    python benchmarks/multicrop.py
    python benchmarks/multicrop.py --profile full
    python benchmarks/multicrop.py --logdir logs --run-name tta   # keep the run for TensorBoard

The run goes to a temporary logdir, deleted afterwards, unless `--logdir`
is given.

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from experiments import augmentation
from kerasdl.harness.results import read_results
from kerasdl.training.benchmarking import print_figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(add_help=False)  # the experiment's --help explains every flag
    parser.add_argument("--logdir", default=None)
    parser.add_argument("--run-name", default="benchmark")
    known, passed_on = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    with contextlib.ExitStack() as stack:
        logdir = known.logdir or stack.enter_context(tempfile.TemporaryDirectory())
        status = augmentation.main(["--logdir", logdir, "--run-name", known.run_name, *passed_on])
        if status:
            return status
        results = read_results(Path(logdir) / "augmentation" / known.run_name)
    multicrop, ensemble = results["details"]["multicrop"], results["details"]["ensemble"]
    print_figures(
        {
            "multicrop_crops": multicrop["crops"],
            "multicrop_time_ratio": f"{multicrop['time_ratio']:.2f}",
            "multicrop_single_accuracy": f"{multicrop['single_accuracy']:.4f}",
            "multicrop_accuracy": f"{multicrop['multi_accuracy']:.4f}",
            "multicrop_accuracy_gain": f"{multicrop['gain']:+.4f}",
            "multicrop_right_to_wrong": multicrop["right_to_wrong"],
            "multicrop_wrong_to_right": multicrop["wrong_to_right"],
            "multicrop_mcnemar_p": f"{multicrop['p_value']:.3g}",
            "ensemble_members": len(ensemble["members"]),
            "ensemble_accuracy": f"{ensemble['ensemble']['accuracy']:.4f}",
            "ensemble_accuracy_gain": f"{ensemble['gain']:+.4f}",
            "ensemble_accuracy_gain_over_best": f"{ensemble['gain_over_best']:+.4f}",
            "ensemble_over_best_mcnemar_p": f"{ensemble['p_value_over_best']:.3g}",
            "ensemble_predict_time_ratio": f"{ensemble['cost_ratio_predict']:.2f}",
            "augmentation_accuracy_gain": f"{results['metrics']['augmentation/vs_baseline']:+.4f}",
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
