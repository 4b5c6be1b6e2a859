"""The experiments kerasdl ships: what lesson each one is, how long its default run takes, where to look.

One entry per experiment module. `kerasdl list` prints this table and
`kerasdl list --markdown` prints it as the README's table, so the two never
disagree. An experiment's title is the first line of its module docstring,
read without importing the module (importing TensorFlow takes seconds).

`runtime` is the wall time of the default profile on this project's reference
machine (2 CPU cores, no GPU), from `benchmarks/experiment_runtimes.py`. A
plain figure was measured on idle cores; "≤" marks one measured while other
jobs shared the two cores (load 8-16), an upper bound: the main job took 2 min
8 s idle and 10 min 19 s so loaded.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

EXPERIMENTS_DIR = Path(__file__).resolve().parent
NOT_EXPERIMENTS = {
    "__init__",
    "__main__",
    "catalog",
    "cli",
}  # modules of this package that are not experiments


@dataclass(frozen=True)
class Experiment:
    """One experiment script: `python -m experiments.<name>` or `kerasdl run <name>`."""

    name: str
    lesson: str
    runtime: str
    look_at: str
    quick: tuple[str, ...] | None = None  # flags of a run of seconds that still fills every dashboard
    needs_input: bool = False  # no default run: the user names a model or a builder

    @property
    def module(self) -> str:
        return f"experiments.{self.name}"

    @property
    def title(self) -> str:
        """The first line of the module's docstring."""
        tree = ast.parse((EXPERIMENTS_DIR / f"{self.name}.py").read_text(encoding="utf-8"))
        docstring = ast.get_docstring(tree) or ""
        return docstring.strip().splitlines()[0].rstrip(".") if docstring.strip() else self.name


EXPERIMENTS = (
    Experiment(
        "scratch_network",
        "Course 1, Weeks 2-4",
        "20 s",
        "Scalars: cost per iteration, NumPy beside Keras",
    ),
    Experiment(
        "initialization",
        "Course 2, Week 1",
        "≤ 56 s",
        "Scalars: loss and error per initialization; per-layer gradient norms",
        quick=("--train-size", "400", "--dev-size", "300", "--epochs", "2", "--depth", "3", "--width", "32"),
    ),
    Experiment(
        "regularization",
        "Course 2, Week 1",
        "≤ 3.5 min",
        "Scalars: gap (dev - train error) without regularization, with L2, with dropout",
    ),
    Experiment(
        "optimization",
        "Course 2, Week 2",
        "≤ 6 min",
        "Scalars: loss of batch GD, mini-batch, momentum, RMSprop, Adam on one chart",
    ),
    Experiment(
        "batch_norm",
        "Course 2, Week 3",
        "≤ 2.8 min",
        "Scalars: loss with and without batch norm at several learning rates",
    ),
    Experiment(
        "hparam_search",
        "Course 2, Week 3",
        "≤ 3.8 min",
        "HParams: parallel coordinates of the coarse and fine trials",
    ),
    Experiment(
        "mismatch",
        "Course 3, Weeks 1-2 (the main job)",
        "86 s",
        "Custom Scalars: the decomposition; Text: error analysis and label issues",
        quick=(
            "--limit",
            "4000",
            "--epochs",
            "2",
            "--label-issue-train-size",
            "1000",
            "--error-sample",
            "20",
        ),
    ),
    Experiment(
        "diagnose",
        "Course 3, Weeks 1-2, for any Keras model",
        "depends on the model",
        "Text: the decomposition, learning curve and error analysis of your own model",
        needs_input=True,
    ),
    Experiment(
        "distributed",
        "Course 2, Week 2 (mini-batches over replicas)",
        "not measured",
        "Scalars: train and test error per epoch; Text: strategy, batch per replica, throughput",
        quick=("--limit", "1024", "--test-limit", "500", "--train-eval-size", "500", "--epochs", "2"),
    ),
    Experiment(
        "multitask",
        "Course 3, Week 2",
        "≤ 7.2 min",
        "HParams: one multi-task network against one network per task",
    ),
    Experiment(
        "transfer",
        "Course 3, Week 2 and Course 4, Week 2",
        "≤ 6.6 min",
        "Text: the four ways of transfer learning compared",
    ),
    Experiment(
        "edges",
        "Course 4, Week 1",
        "≤ 19 s",
        "Images: the lesson's edge kernels on real images",
    ),
    Experiment(
        "architectures",
        "Course 4, Week 2",
        "≤ 27 min",
        "HParams: LeNet-5, VGG, ResNet, Inception by accuracy, parameters, seconds",
    ),
    Experiment(
        "augmentation",
        "Course 4, Week 2",
        "≤ 20 min",
        "Images: augmented examples and ten crops; Scalars: train/dev gap with and without",
    ),
    Experiment(
        "detection",
        "Course 4, Week 3",
        "9 min 33 s – 10 min 45 s",
        "Scalars: dev mAP@0.5 per epoch; Images: detections drawn on dev canvases",
    ),
    Experiment(
        "verification",
        "Course 4, Week 4",
        "2 min 44 s",
        "Scalars: unseen-class AUC per mining mode; Images: ROC; Projector: unseen encodings",
        quick=(
            "--train-size",
            "1000",
            "--epochs",
            "1",
            "--pairs",
            "400",
            "--episodes",
            "200",
            "--head-pairs",
            "1000",
            "--head-epochs",
            "2",
            "--projector-size",
            "300",
        ),
    ),
    Experiment(
        "style_transfer",
        "Course 4, Week 4",
        "57 s",
        "Scalars: content, style and total cost per step; Images: content, style, generated side by side",
        quick=("--size", "64", "--filters", "16", "--steps", "20"),
    ),
    Experiment(
        "char_lm",
        "Course 5, Week 1",
        "2 min 5 s",
        "Scalars: validation nats per character; Text: sampled fortunes",
        quick=(
            "--limit",
            "600",
            "--epochs",
            "2",
            "--steps-per-epoch",
            "10",
            "--units",
            "32",
            "--sample-length",
            "80",
        ),
    ),
    Experiment(
        "embeddings",
        "Course 5, Week 2",
        "≤ 2.9 min",
        "Scalars: analogy accuracy per epoch; Projector: vectors, debiased too; Text: analogies, debiasing",
        quick=(
            "--corpus",
            "fortunes",
            "--limit",
            "600",
            "--min-count",
            "2",
            "--dim",
            "8",
            "--epochs",
            "2",
            "--glove-epochs",
            "2",
            "--projector-words",
            "100",
            "--debias-words-per-side",
            "20",
        ),
    ),
    Experiment(
        "sentiment",
        "Course 5, Week 2",
        "≤ 4.3 min",
        "Scalars: dev error of the averaged embeddings and the LSTM; Text: majority baseline, negations",
    ),
    Experiment(
        "date_translation",
        "Course 5, Week 3",
        "≤ 3.9 min",
        "Images: attention maps; Text: beam (B, alpha) sweep and the search-or-model error analysis",
    ),
    Experiment(
        "ctc",
        "Course 5, Week 3",
        "4 min 5 s",
        "Scalars: greedy CER per epoch; Images: test lines over their per-frame probabilities",
        quick=(
            "--train-size",
            "96",
            "--dev-size",
            "24",
            "--test-size",
            "24",
            "--epochs",
            "2",
            "--filters",
            "4,8,8",
            "--dense",
            "16",
            "--units",
            "8",
            "--train-eval-size",
            "24",
            "--examples",
            "2",
            "--beam-width",
            "3",
        ),
    ),
    Experiment(
        "trigger_word",
        "Course 5, Week 3",
        "2 min 3 s",
        "Audio, Images: test clips and their predicted probabilities; Scalars: false rejects, accepts/hour",
        quick=(
            "--clip-seconds",
            "3",
            "--train-clips",
            "16",
            "--train-dev-clips",
            "6",
            "--dev-clips",
            "6",
            "--test-clips",
            "6",
            "--vocabulary",
            "10",
            "--filters",
            "8",
            "--units",
            "8",
            "--epochs",
            "2",
        ),
    ),
)


def experiment_names() -> list[str]:
    """The experiment modules present in this package, by file name."""
    return sorted(path.stem for path in EXPERIMENTS_DIR.glob("*.py") if path.stem not in NOT_EXPERIMENTS)


def find(name: str) -> Experiment:
    """The catalog entry of `name`; a KeyError that lists the known names otherwise."""
    for experiment in EXPERIMENTS:
        if experiment.name == name:
            return experiment
    known = ", ".join(experiment.name for experiment in EXPERIMENTS)
    raise KeyError(f"no experiment named {name!r}; the experiments are: {known}")


def table(markdown: bool = False) -> str:
    """The catalog as aligned text columns, or as a Markdown table for the README."""
    if markdown:
        lines = [
            "| experiment | lesson | command | default run, 2 CPU cores | look at in TensorBoard |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {e.title} | {e.lesson} | `kerasdl run {e.name}` | {e.runtime} | {e.look_at} |"
            for e in EXPERIMENTS
        ]
        return "\n".join(lines)
    width = max(len(e.name) for e in EXPERIMENTS)
    lesson_width = max(len(e.lesson) for e in EXPERIMENTS)
    runtime_width = max(len(e.runtime) for e in EXPERIMENTS)
    lines = []
    for e in EXPERIMENTS:
        lines.append(
            f"{e.name:<{width}}  {e.lesson:<{lesson_width}}  {e.runtime:>{runtime_width}}  {e.title}"
        )
    return "\n".join(lines)
