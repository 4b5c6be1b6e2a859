"""Keras layers written the way the lessons write them.

Course 1: `Dense` (Z = A_prev W + b, A = g(Z)). Course 2: `InvertedDropout`
(Week 1), `BatchNorm` and `Softmax` (Week 3). Each is checked against the
NumPy reference in `kerasdl.scratch` and the Keras built-in with copied
weights (tests/kerasdl/nn/layers/).
"""

from kerasdl.nn.layers.batch_norm import BatchNorm
from kerasdl.nn.layers.dense import Dense
from kerasdl.nn.layers.dropout import InvertedDropout
from kerasdl.nn.layers.softmax import Softmax

__all__ = ["BatchNorm", "Dense", "InvertedDropout", "Softmax"]
