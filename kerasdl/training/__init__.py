"""Training machinery: the custom loop, backup and restore, NaN guard, strategies, safe saving, atomic I/O.

Built on the lesson parts (`kerasdl.nn`); knows nothing of run directories
or experiments (`kerasdl.harness`).
"""
