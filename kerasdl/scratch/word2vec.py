"""Skip-gram with negative sampling in NumPy: the loss and its gradients, one pair at a time.

Course 5, Week 2 ("Word2Vec", "Negative Sampling"). The oracle of
`kerasdl.nn.word2vec`, written independently of it: plain loops over the
pairs and their negatives, the gradients derived by hand.

For a target word w with embedding v_w (a row of E), its context word c
and K negative words n_1..n_K with context embeddings u (rows of E'):

    L = -log sigma(u_c . v_w) - sum_k log sigma(-u_{n_k} . v_w)

and, since d/dz [-log sigma(z)] = sigma(z) - 1 and d/dz [-log sigma(-z)] = sigma(z),

    dL/dv_w     = (sigma(u_c . v_w) - 1) u_c + sum_k sigma(u_{n_k} . v_w) u_{n_k}
    dL/du_c     = (sigma(u_c . v_w) - 1) v_w
    dL/du_{n_k} = sigma(u_{n_k} . v_w) v_w          (summed when a word is drawn twice)
"""

from __future__ import annotations

import math

import numpy as np


def sigmoid(z: float) -> float:
    """1 / (1 + e^-z), without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def log_sigmoid(z: float) -> float:
    """log sigma(z) = -log(1 + e^-z), without overflow."""
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def pair_loss(v_w: np.ndarray, u_c: np.ndarray, u_negatives: np.ndarray) -> float:
    """L of one pair: v_w [d], u_c [d], u_negatives [K, d]."""
    loss = -log_sigmoid(float(np.dot(u_c, v_w)))
    for u_k in u_negatives:
        loss -= log_sigmoid(-float(np.dot(u_k, v_w)))
    return loss


def pair_gradients(
    v_w: np.ndarray, u_c: np.ndarray, u_negatives: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dv_w [d], dL/du_c [d], dL/du_{n_k} [K, d]) of one pair."""
    positive = sigmoid(float(np.dot(u_c, v_w))) - 1.0
    d_v = positive * u_c
    d_u_negatives = np.zeros_like(u_negatives, dtype=np.float64)
    for k, u_k in enumerate(u_negatives):
        s = sigmoid(float(np.dot(u_k, v_w)))
        d_v = d_v + s * u_k
        d_u_negatives[k] = s * v_w
    return d_v, positive * v_w, d_u_negatives


def batch_loss_and_gradients(
    target_embeddings: np.ndarray,
    context_embeddings: np.ndarray,
    targets: np.ndarray,
    contexts: np.ndarray,
    negatives: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The mean of L over a batch of pairs and its gradients with respect to E and E'.

    Args:
        target_embeddings: E [V, d].
        context_embeddings: E' [V, d].
        targets, contexts: word ids [B].
        negatives: word ids [B, K].

    Returns:
        (mean loss, dJ/dE [V, d], dJ/dE' [V, d]), J the mean loss; a word
        that appears several times collects every contribution.
    """
    d_target = np.zeros(target_embeddings.shape, np.float64)
    d_context = np.zeros(context_embeddings.shape, np.float64)
    total = 0.0
    batch = len(targets)
    for b in range(batch):
        w, c, ns = int(targets[b]), int(contexts[b]), [int(n) for n in negatives[b]]
        v_w, u_c, u_ns = target_embeddings[w], context_embeddings[c], context_embeddings[ns]
        total += pair_loss(v_w, u_c, u_ns)
        d_v, d_u_c, d_u_ns = pair_gradients(v_w, u_c, u_ns)
        d_target[w] += d_v / batch
        d_context[c] += d_u_c / batch
        for n, d_u_n in zip(ns, d_u_ns, strict=True):
            d_context[n] += d_u_n / batch
    return total / batch, d_target, d_context
