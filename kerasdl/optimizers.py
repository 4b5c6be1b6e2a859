"""Deprecated alias of `kerasdl.nn.optimizers`; import from there."""

import warnings

from kerasdl.nn.optimizers import *  # noqa: F403

warnings.warn(
    "kerasdl.optimizers moved to kerasdl.nn.optimizers; the old path will be removed in kerasdl 0.3.",
    DeprecationWarning,
    stacklevel=2,
)
