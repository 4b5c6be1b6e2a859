"""kerasdl: the Deep Learning Specialization's lessons as a Keras 3 toolkit.

Submodules are imported on demand so that `import kerasdl` stays cheap:
`kerasdl.experiment` (run directories, config, seeds), `kerasdl.distribute`
(tf.distribute strategies), `kerasdl.diagnostics` (bias / variance / data
mismatch), `kerasdl.architectures` (model builders) and more.
"""

__version__ = "0.1.0"
