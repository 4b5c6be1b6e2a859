"""Structuring ML projects (Course 3) as code: where the error comes from.

- `bias_variance`: avoidable bias, variance, data mismatch and overfitting to
  dev from human-level, train, train-dev, dev and test error, with the next
  step the lesson's chart recommends (per epoch in any `fit`:
  `kerasdl.harness.decomposition.DecompositionCallback`).
- `error_analysis`: the lesson's sheet of misclassified dev examples, with
  automatic tags (blurry, low contrast, confused pair, suspected wrong label),
  a CSV + contact sheet round trip for tagging by hand, and the "% of
  errors" table with each tag's ceiling.
- `label_issues`: out-of-fold probabilities by K-fold training, confident
  learning (cleanlab) to rank suspected label errors, and corrections applied
  to dev and test alike.
- `metrics`: F1 (macro/micro), satisficing selection over runs, weighted
  error and loss.
- `learning_curves`: train and dev error against nested training-set sizes,
  and whether more data will help, from the slope over the last doubling.
- `duplicates`: exact duplicates (same pixels) within and across splits.
- `beam_error_analysis`: Course 5's question for a sequence model's errors:
  did the beam search or the model fail?
- `images`: confusion matrix, captioned grids and labelled rows as images
  sized for TensorBoard's image card.
"""

from kerasdl.diagnostics.bias_variance import (
    ErrorDecomposition,
    Recommendation,
    classification_error,
    decompose,
)
from kerasdl.diagnostics.error_analysis import (
    ErrorSheet,
    TagRow,
    auto_tags,
    export_sheet,
    import_sheet,
    laplacian_variance,
    rms_contrast,
    tag_table,
    tag_table_markdown,
    top_loss_grid,
    top_losses,
)
from kerasdl.diagnostics.images import confusion_matrix_image, for_summary, image_grid
from kerasdl.diagnostics.label_issues import (
    LabelIssues,
    apply_corrections,
    detection_precision_recall,
    find_label_issues,
    inject_label_noise,
    out_of_fold_probabilities,
)
from kerasdl.diagnostics.metrics import (
    Selection,
    confusion_matrix,
    f1_score,
    importance_weights,
    inference_ms_per_example,
    mcnemar_p_value,
    precision_recall_f1,
    satisficing_select,
    weighted_error,
    weighted_loss,
    weighted_mean,
)

__all__ = [
    "ErrorDecomposition",
    "ErrorSheet",
    "LabelIssues",
    "Recommendation",
    "Selection",
    "TagRow",
    "apply_corrections",
    "auto_tags",
    "classification_error",
    "confusion_matrix",
    "confusion_matrix_image",
    "decompose",
    "detection_precision_recall",
    "export_sheet",
    "f1_score",
    "find_label_issues",
    "for_summary",
    "image_grid",
    "import_sheet",
    "importance_weights",
    "inference_ms_per_example",
    "mcnemar_p_value",
    "inject_label_noise",
    "laplacian_variance",
    "out_of_fold_probabilities",
    "precision_recall_f1",
    "rms_contrast",
    "satisficing_select",
    "tag_table",
    "tag_table_markdown",
    "top_loss_grid",
    "top_losses",
    "weighted_error",
    "weighted_loss",
    "weighted_mean",
]
