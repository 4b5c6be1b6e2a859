"""Bias, variance and data mismatch from measured error rates.

Course 3, Week 1 ("Avoidable bias", "Understanding human-level performance")
and Week 2 ("Bias and variance with mismatched data distributions"):

    avoidable bias  = training error  - human-level error (proxy for Bayes)
    variance        = train-dev error - training error
    data mismatch   = dev error       - train-dev error
    overfitting dev = test error      - dev error

Without a train-dev set, variance is dev error - training error (the
Week 1 form), which mixes in any data mismatch. The largest gap is where to
focus; the lesson's chart names what to try for each:

- avoidable bias: train a bigger model; train longer or use a better
  optimization algorithm (momentum, RMSprop, Adam); search architectures and
  hyperparameters.
- variance: more data; regularization (L2, dropout, data augmentation);
  search architectures and hyperparameters.
- data mismatch: manual error analysis to see how training and dev/test
  differ; make training data more like dev/test (artificial data
  synthesis) or collect more data like dev/test.
- overfitting to dev: a bigger dev set.

When training error is below human-level error, the human proxy no longer
bounds Bayes error: avoidable bias cannot be read off any more, and progress
comes from the other gaps and from better estimates of Bayes error
("Surpassing human-level performance").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import numpy as np

ACTIONS = {
    "avoidable_bias": (
        "train a bigger model",
        "train longer / use a better optimization algorithm (momentum, RMSprop, Adam)",
        "search neural-network architectures and hyperparameters",
    ),
    "variance": (
        "get more training data",
        "regularize: L2, dropout, data augmentation",
        "search neural-network architectures and hyperparameters",
    ),
    "data_mismatch": (
        "carry out manual error analysis to understand how training and dev/test data differ",
        "make training data more like dev/test: artificial data synthesis (beware of synthesizing from a "
        "small set of distortions)",
        "collect more training data like the dev/test data",
    ),
    "dev_overfitting": ("get a bigger dev set",),
}
LABELS = {
    "avoidable_bias": "avoidable bias",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "dev_overfitting": "overfitting to the dev set",
}


@dataclass(frozen=True)
class Recommendation:
    """Where to focus next, and what the lesson says to try.

    Attributes:
        focus: the largest gap: "avoidable_bias", "variance",
            "data_mismatch", "dev_overfitting", or "none" when no gap is
            positive.
        gap: the size of that gap (error-rate points, 0..1).
        actions: what to try, from the lesson's chart.
        also: other gaps at least half as large as the focus, worth a look.
        surpassed_human: training error is below human-level error.
        rationale: one sentence with the numbers behind the choice.
    """

    focus: str
    gap: float
    actions: tuple[str, ...]
    also: tuple[str, ...]
    surpassed_human: bool
    rationale: str


@dataclass(frozen=True)
class ErrorDecomposition:
    """Error rates (fractions in [0, 1]) and the gaps between them."""

    human: float
    train: float
    dev: float
    train_dev: float | None = None
    test: float | None = None

    def __post_init__(self):
        for name in ("human", "train", "dev", "train_dev", "test"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value <= 1.0 and np.isfinite(value)):
                raise ValueError(f"Error rates are fractions in [0, 1]. Received: {name}={value}")

    @property
    def avoidable_bias(self) -> float:
        return self.train - self.human

    @property
    def variance(self) -> float:
        return (self.train_dev if self.train_dev is not None else self.dev) - self.train

    @property
    def data_mismatch(self) -> float | None:
        return None if self.train_dev is None else self.dev - self.train_dev

    @property
    def dev_overfitting(self) -> float | None:
        return None if self.test is None else self.test - self.dev

    @property
    def surpassed_human(self) -> bool:
        return self.train < self.human

    def gaps(self) -> dict[str, float]:
        """The gaps that can be computed from the errors given."""
        gaps = {"avoidable_bias": self.avoidable_bias, "variance": self.variance}
        if self.data_mismatch is not None:
            gaps["data_mismatch"] = self.data_mismatch
        if self.dev_overfitting is not None:
            gaps["dev_overfitting"] = self.dev_overfitting
        return gaps

    def recommendation(self) -> Recommendation:
        """The lesson's next step: focus on the largest gap."""
        gaps = self.gaps()
        candidates = dict(gaps)
        if self.surpassed_human:
            # The human proxy is no longer an estimate of Bayes error: a negative
            # "avoidable bias" says nothing about how much bias is left.
            candidates.pop("avoidable_bias")
        focus, gap = max(candidates.items(), key=lambda item: item[1])
        if gap <= 0:
            rationale = (
                "No gap is positive: the model does as well on dev as on train and as the human proxy."
            )
            return Recommendation("none", 0.0, (), (), self.surpassed_human, rationale)
        also = tuple(
            name for name, value in candidates.items() if name != focus and value >= gap / 2 and value > 0
        )
        actions = ACTIONS[focus]
        rationale = f"{LABELS[focus]} is the largest gap ({100 * gap:.1f} points)"
        if also:
            listed = ", ".join(f"{LABELS[n]} ({100 * candidates[n]:.1f} points)" for n in also)
            rationale += f"; {listed} {'also matters' if len(also) == 1 else 'also matter'}"
        if self.surpassed_human:
            rationale += (
                f". Training error ({100 * self.train:.1f}%) is below human-level error "
                f"({100 * self.human:.1f}%): "
                "human level no longer bounds Bayes error, so avoidable bias cannot be measured and progress "
                "will be slower; look for a better estimate of Bayes error (e.g. a team of experts)"
            )
            actions = actions + (
                "find a better estimate of Bayes error than human level (e.g. a team of experts)",
            )
        return Recommendation(focus, gap, actions, also, self.surpassed_human, rationale + ".")

    def as_dict(self) -> dict:
        """Errors, gaps and the recommendation, JSON-ready."""
        result = {k: v for k, v in asdict(self).items() if v is not None}
        result.update(self.gaps())
        result["recommendation"] = asdict(self.recommendation())
        return result

    def to_markdown(self) -> str:
        """The decomposition as a Markdown table plus the recommended next step."""

        def pct(value):
            return "n/a" if value is None else f"{100 * value:.2f}%"

        rows = [("human-level (Bayes proxy)", self.human), ("training", self.train)]
        if self.train_dev is not None:
            rows.append(("train-dev", self.train_dev))
        rows.append(("dev", self.dev))
        if self.test is not None:
            rows.append(("test", self.test))
        lines = ["| error | value |", "|---|---|"] + [f"| {name} | {pct(v)} |" for name, v in rows]
        lines += ["", "| gap | value |", "|---|---|"]
        lines += [f"| {LABELS[name]} | {pct(v)} |" for name, v in self.gaps().items()]
        rec = self.recommendation()
        lines += ["", f"**Focus: {LABELS.get(rec.focus, rec.focus)}.** {rec.rationale}", ""]
        lines += [f"- {action}" for action in rec.actions]
        return "\n".join(lines)


def decompose(
    human: float, train: float, dev: float, train_dev: float | None = None, test: float | None = None
) -> ErrorDecomposition:
    """The decomposition of measured error rates (fractions in [0, 1]).

    Example (the lesson's first table):

    >>> decompose(human=0.01, train=0.08, dev=0.10).recommendation().focus
    'avoidable_bias'
    >>> decompose(human=0.075, train=0.08, dev=0.10).recommendation().focus
    'variance'
    """
    return ErrorDecomposition(human=human, train=train, dev=dev, train_dev=train_dev, test=test)


def classification_error(model: keras.Model, dataset) -> tuple[float, float]:
    """(error rate, mean loss) of a compiled classifier on a dataset.

    The model must be compiled with an "accuracy" metric. Evaluation runs in
    inference mode (dropout off, batch-norm moving averages), which is what
    the lesson's "training error" means, unlike the running average `fit`
    prints while the weights move.
    """
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    if "accuracy" not in results:
        raise ValueError(f"Compile the model with metrics=['accuracy']. Received metrics: {sorted(results)}")
    return 1.0 - float(results["accuracy"]), float(results["loss"])


def custom_scalars_layout():
    """TensorBoard's Custom Scalars layout: the gaps on one chart, the errors on another.

    The gaps chart shows the tag "decomposition", which each gap's own run
    (`gaps/<gap>`) holds, so every gap is a line of its own colour.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

    def chart(title, regex):
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=[regex]))

    layout = layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title="bias / variance / data mismatch (Course 3)",
                chart=[
                    chart(
                        "gaps: avoidable bias, variance, data mismatch, overfitting to dev",
                        r"^decomposition$",
                    ),
                    chart("error per split: train, train_dev, dev, test, human level", r"^error$"),
                ],
            )
        ]
    )
    return custom_scalar_summary.pb(layout)
