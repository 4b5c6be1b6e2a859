"""Deprecated alias of `kerasdl.nn.layers`; import from there."""

import warnings

from kerasdl.nn.layers import *  # noqa: F403
from kerasdl.nn.layers import __all__  # noqa: F401

warnings.warn(
    "kerasdl.layers moved to kerasdl.nn.layers; the old path will be removed in kerasdl 0.3.",
    DeprecationWarning,
    stacklevel=2,
)
