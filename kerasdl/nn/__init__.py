"""The lesson parts: layers, optimizers, schedules, initializers, regularizers, losses, blocks, architectures.

Each is written with `keras.ops` the way its lesson writes it and checked
against an oracle. They import neither `pipelines` nor the rest of kerasdl
(only `kerasdl.scratch`), so they drop into any Keras 3 model.
"""
