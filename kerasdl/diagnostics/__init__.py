"""Structuring ML projects (Course 3) as code: where the error comes from.

- `bias_variance`: avoidable bias, variance, data mismatch and overfitting to
  dev from human-level, train, train-dev, dev and test error, with the next
  step the lesson's chart recommends; standalone and as a Keras callback.
"""

from kerasdl.diagnostics.bias_variance import (
    DecompositionCallback,
    ErrorDecomposition,
    Recommendation,
    classification_error,
    decompose,
)

__all__ = [
    "DecompositionCallback",
    "ErrorDecomposition",
    "Recommendation",
    "classification_error",
    "decompose",
]
