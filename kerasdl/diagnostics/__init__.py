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
  learning (cleanlab) to rank suspected label errors, the flagged set sized
  by the evidence, and corrections applied to dev and test alike.
- `data_quality`: one cleanlab `Datalab` audit of held-out probabilities and
  embeddings: label issues, near duplicates in the embedding space, outliers.
- `metrics`: F1 (macro/micro), satisficing selection over runs, weighted
  error and loss.
- `learning_curves`: train and dev error against nested training-set sizes,
  and whether more data will help, from the slope over the last doubling.
- `duplicates`: copies by content, identical pixels or perceptual hashes
  within a Hamming distance, within and across splits.
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
from kerasdl.diagnostics.data_quality import DataQuality, audit
from kerasdl.diagnostics.duplicates import Duplicates, find_duplicates
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
    wilson_interval,
    wrong_label_statement,
)
from kerasdl.diagnostics.images import confusion_matrix_image, for_summary, image_grid
from kerasdl.diagnostics.label_issues import (
    LABEL_QUALITY_THRESHOLD,
    LabelIssues,
    apply_corrections,
    detection_precision_recall,
    estimated_label_issues,
    find_label_issues,
    flag_label_issues,
    inject_label_noise,
    inject_pair_noise,
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
    "LABEL_QUALITY_THRESHOLD",
    "DataQuality",
    "Duplicates",
    "ErrorDecomposition",
    "ErrorSheet",
    "LabelIssues",
    "Recommendation",
    "Selection",
    "TagRow",
    "apply_corrections",
    "audit",
    "auto_tags",
    "classification_error",
    "confusion_matrix",
    "confusion_matrix_image",
    "decompose",
    "detection_precision_recall",
    "estimated_label_issues",
    "export_sheet",
    "f1_score",
    "find_duplicates",
    "find_label_issues",
    "flag_label_issues",
    "for_summary",
    "image_grid",
    "import_sheet",
    "importance_weights",
    "inference_ms_per_example",
    "inject_label_noise",
    "inject_pair_noise",
    "laplacian_variance",
    "mcnemar_p_value",
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
    "wilson_interval",
    "wrong_label_statement",
]
