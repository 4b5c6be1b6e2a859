"""Neutralize and equalize, one vector at a time, from the formulas: the oracle of `kerasdl.nn.debias`.

Course 5, Week 2, "Debiasing word embeddings" (Bolukbasi et al. 2016, "Man
is to computer programmer as woman is to homemaker?"), with g the bias
direction ("bias_axis"):

Neutralize a word e that should carry no bias: remove its projection on g,

    e_biascomponent = (e . g / ||g||^2) g
    e_debiased      = e - e_biascomponent

Equalize a pair (w1, w2) that should differ only along g ("actor" and
"actress"), the course's formulas:

    mu      = (e_w1 + e_w2) / 2
    mu_B    = (mu . g / ||g||^2) g
    mu_orth = mu - mu_B
    e_w1B   = (e_w1 . g / ||g||^2) g
    e_w2B   = (e_w2 . g / ||g||^2) g
    corrected_e_w1B = sqrt(|1 - ||mu_orth||^2|) (e_w1B - mu_B) / ||(e_w1 - mu_orth) - mu_B||
    corrected_e_w2B = sqrt(|1 - ||mu_orth||^2|) (e_w2B - mu_B) / ||(e_w2 - mu_orth) - mu_B||
    e1 = corrected_e_w1B + mu_orth
    e2 = corrected_e_w2B + mu_orth

Bolukbasi et al.'s own step divides by ||e_wB - mu_B|| instead (and takes
sqrt(1 - ||mu_orth||^2)), which puts e1 and e2 on the unit sphere when the
inputs are unit vectors: `variant="bolukbasi"`.

Plain Python and NumPy dot products, one 1-D vector per call, no batching:
readable teaching code, and independent of the vectorised module.
"""

from __future__ import annotations

import math

import numpy as np


def _dot(u, v) -> float:
    return float(sum(float(a) * float(b) for a, b in zip(u, v, strict=True)))


def _norm(u) -> float:
    return math.sqrt(_dot(u, u))


def _project(e, g) -> np.ndarray:
    """(e . g / ||g||^2) g"""
    return (_dot(e, g) / _dot(g, g)) * np.asarray(g, dtype=np.float64)


def neutralize(e, g) -> np.ndarray:
    """e - (e . g / ||g||^2) g for one word vector e (1-D)."""
    e = np.asarray(e, dtype=np.float64)
    e_biascomponent = _project(e, g)
    return e - e_biascomponent


def equalize(e_w1, e_w2, g, variant: str = "lesson") -> tuple[np.ndarray, np.ndarray]:
    """The course's equalization of one pair (module docstring); `variant="bolukbasi"` for the paper's."""
    e_w1, e_w2 = np.asarray(e_w1, dtype=np.float64), np.asarray(e_w2, dtype=np.float64)
    mu = (e_w1 + e_w2) / 2
    mu_B = _project(mu, g)
    mu_orth = mu - mu_B
    e_w1B = _project(e_w1, g)
    e_w2B = _project(e_w2, g)
    if variant == "lesson":
        scale = math.sqrt(abs(1 - _dot(mu_orth, mu_orth)))
        corrected_e_w1B = scale * (e_w1B - mu_B) / _norm((e_w1 - mu_orth) - mu_B)
        corrected_e_w2B = scale * (e_w2B - mu_B) / _norm((e_w2 - mu_orth) - mu_B)
    elif variant == "bolukbasi":
        scale = math.sqrt(1 - _dot(mu_orth, mu_orth))
        corrected_e_w1B = scale * (e_w1B - mu_B) / _norm(e_w1B - mu_B)
        corrected_e_w2B = scale * (e_w2B - mu_B) / _norm(e_w2B - mu_B)
    else:
        raise ValueError(f"variant must be 'lesson' or 'bolukbasi'. Received: variant={variant!r}")
    e1 = corrected_e_w1B + mu_orth
    e2 = corrected_e_w2B + mu_orth
    return e1, e2
