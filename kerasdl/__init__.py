"""kerasdl: the Deep Learning Specialization's lessons as a Keras 3 toolkit.

The subpackages are the layers of the design, each importing only those
below it (checked in CI by import-linter, see `pyproject.toml`):

- `kerasdl.harness`: the run lifecycle that experiments are built on
  (run directory, phases, resume, config, curves, results).
- `kerasdl.evaluation`: test-time evaluation (multi-crop, ensembles).
- `kerasdl.diagnostics`: Course 3's bias / variance / data-mismatch
  decomposition, error analysis and label issues.
- `kerasdl.training`: training machinery (custom loop, backup and
  restore, NaN guard, strategies, safe saving, atomic I/O, timing).
- `kerasdl.nn`: the lesson parts written with `keras.ops`: layers,
  optimizers, schedules, initializers, regularizers, losses, blocks,
  architectures.
- `kerasdl.scratch`: the NumPy references the lesson parts are checked against.

Submodules are imported on demand, so `import kerasdl` stays cheap.
"""

__version__ = "0.1.0"
