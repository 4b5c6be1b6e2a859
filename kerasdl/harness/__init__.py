"""The run harness: one run lifecycle that every experiment script is built on.

`kerasdl.harness.run` makes and reopens run directories, checks a resumed
run's configuration and records its phases; `curves` writes and persists
per-epoch curves; `results` writes the one results file; `variants` and
`comparison` are the shapes of experiments that compare several models.
It is the one place that knows about `--resume`.
"""
