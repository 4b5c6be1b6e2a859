"""tf.data input pipelines: sources, splits, normalization, synthesis, datasets.

Data flow (DESIGN.md): source -> splits -> normalize -> augment -> model.
"""
