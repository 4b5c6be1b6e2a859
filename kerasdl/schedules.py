"""Deprecated alias of `kerasdl.nn.schedules`; import from there."""

import warnings

from kerasdl.nn.schedules import *  # noqa: F403

warnings.warn(
    "kerasdl.schedules moved to kerasdl.nn.schedules; the old path will be removed in kerasdl 0.3.",
    DeprecationWarning,
    stacklevel=2,
)
