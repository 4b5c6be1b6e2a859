"""Ensembles: train several networks independently and average their outputs.

Course 4, Week 2 ("Tips for doing well on benchmarks/winning
competitions"): "Ensembling: train several networks independently and
average their outputs (y-hats)", typically 3 to 15 networks. The members
differ only by their seed (initial weights, shuffling, augmentation), so
their errors are partly independent and the average is better than a
typical member. The price is paid at training and at test time: N times the
parameters, the training and the prediction work, which is why the lesson
says it is for benchmarks and competitions rather than production.

`train_members` trains the members; `Ensemble` averages them as one Keras
model; `evaluate_ensemble` reports every member, the ensemble and the cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kerasdl.diagnostics.metrics import mcnemar_p_value
from kerasdl.evaluation.reports import Report, labelled_examples
from kerasdl.training.timing import timed_predict


@dataclass
class Member:
    """One trained network of an ensemble.

    Attributes:
        seed: the seed it was built and trained with.
        model: the trained Keras model.
        train_seconds: wall time of its training.
    """

    seed: int
    model: keras.Model
    train_seconds: float


def train_members(
    build: Callable[[int], keras.Model],
    fit: Callable[[keras.Model, int], object],
    seeds: Sequence[int],
) -> list[Member]:
    """Builds and trains one network per seed, one after another.

    For each seed: `keras.utils.set_random_seed(seed)` (Python, NumPy and the backend),
    `model = build(seed)` (a compiled model, so the initial weights come from
    the seed), then `fit(model, seed)` (which should also seed its data
    order and augmentation). Timed per member.

    Args:
        build: seed -> a compiled Keras model.
        fit: (model, seed) -> anything (e.g. the History).
        seeds: distinct non-negative seeds, one per member.
    """
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers. Received: seeds={seeds!r}")
    members = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = build(seed)
        start = time.perf_counter()
        fit(model, seed)
        members.append(Member(seed, model, time.perf_counter() - start))
    return members


@keras.saving.register_keras_serializable(package="kerasdl")
class Ensemble(keras.Model):
    """The average of several classifiers' outputs: y_hat = (1/M) sum_m y_hat_m.

    Args:
        members: Keras models with the same input and output shapes.
        from_logits: apply a softmax to each member's output before averaging
            (average probabilities, as the lesson averages y-hats).

    Example:

        ensemble = Ensemble([m.model for m in members])
        probabilities = ensemble.predict(test_images)
    """

    def __init__(self, members: Sequence[keras.Model], from_logits: bool = False, **kwargs):
        super().__init__(**kwargs)
        members = list(members)
        if not members or not all(isinstance(m, keras.Model) for m in members):
            raise ValueError(
                f"members must be a non-empty list of Keras models. Received: members={members!r}"
            )
        self.members = members
        self.from_logits = bool(from_logits)

    def call(self, inputs, training: bool = False):
        outputs = [member(inputs, training=training) for member in self.members]
        if self.from_logits:
            outputs = [tf.nn.softmax(output, axis=-1) for output in outputs]
        return tf.add_n(outputs) / len(outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "members": [keras.saving.serialize_keras_object(m) for m in self.members],
            "from_logits": self.from_logits,
        }

    @classmethod
    def from_config(cls, config: dict) -> Ensemble:
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(m) for m in config["members"]]
        return cls(**config)


@dataclass(frozen=True)
class Scores:
    """Accuracy, cross-entropy and cost of one classifier on one set."""

    accuracy: float
    cross_entropy: float
    parameters: int
    predict_seconds: float
    train_seconds: float


@dataclass(frozen=True)
class EnsembleReport(Report):
    """Every member, the ensemble, and what the ensemble costs.

    Attributes:
        members: per-member scores, in seed order.
        ensemble: the ensemble's scores (parameters, train and predict time
            summed over members by construction).
        mean_member_accuracy: the accuracy of a typical member.
        gain: ensemble accuracy minus the mean member accuracy.
        gain_over_best: ensemble accuracy minus the best member's.
        p_value_over_best: exact McNemar p-value of the ensemble against
            its best member on these examples
            (`kerasdl.diagnostics.mcnemar_p_value`).
        cost_ratio_predict: ensemble predict time / mean member predict time.
    """

    seeds: list[int]
    members: list[Scores]
    ensemble: Scores
    mean_member_accuracy: float
    gain: float
    gain_over_best: float
    p_value_over_best: float
    cost_ratio_predict: float


def _scores(
    probabilities: np.ndarray,
    labels: np.ndarray,
    parameters: int,
    predict_seconds: float,
    train_seconds: float,
) -> Scores:
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return Scores(
        accuracy=float(np.mean(probabilities.argmax(-1) == labels)),
        cross_entropy=float(-np.mean(np.log(picked))),
        parameters=int(parameters),
        predict_seconds=float(predict_seconds),
        train_seconds=float(train_seconds),
    )


def evaluate_ensemble(
    members: Sequence[Member],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 256,
    from_logits: bool = False,
) -> EnsembleReport:
    """Scores each member and their average on (images, labels).

    The ensemble is evaluated as one `Ensemble` model (one pass of every
    member per batch), so its predict time is the real cost of serving it.
    """
    images, labels = labelled_examples(images, labels)
    member_scores, member_right = [], []
    for member in members:
        outputs, seconds = timed_predict(member.model, images, batch_size)
        if from_logits:
            outputs = tf.nn.softmax(outputs, axis=-1).numpy()
        member_scores.append(
            _scores(outputs, labels, member.model.count_params(), seconds, member.train_seconds)
        )
        member_right.append(outputs.argmax(-1) == labels)
    ensemble = Ensemble([m.model for m in members], from_logits=from_logits)
    outputs, seconds = timed_predict(ensemble, images, batch_size)
    ensemble_scores = _scores(
        outputs,
        labels,
        sum(s.parameters for s in member_scores),
        seconds,
        sum(m.train_seconds for m in members),
    )
    accuracies = [s.accuracy for s in member_scores]
    best = int(np.argmax(accuracies))
    mean_predict = float(np.mean([s.predict_seconds for s in member_scores]))
    return EnsembleReport(
        seeds=[m.seed for m in members],
        members=member_scores,
        ensemble=ensemble_scores,
        mean_member_accuracy=float(np.mean(accuracies)),
        gain=ensemble_scores.accuracy - float(np.mean(accuracies)),
        gain_over_best=ensemble_scores.accuracy - max(accuracies),
        p_value_over_best=mcnemar_p_value(member_right[best], outputs.argmax(-1) == labels),
        cost_ratio_predict=seconds / max(mean_predict, 1e-9),
    )
