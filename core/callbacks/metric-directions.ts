/**
 * Which way each Keras metric is better, as its class declares it (`self._direction = "up"` or
 * `"down"` in `keras/src/metrics/*.py`). Keys are the names the metrics are logged under: the
 * class's default `name` (Keras's `to_snake_case` of the class name where the class passes
 * `name=None`, e.g. `BinaryIoU` → `binary_io_u`), plus the names Kiln logs its own metrics under
 * (`mse`, `mae`, `f1`, `acc`).
 *
 * Metrics whose class sets no `_direction` are absent on purpose, because Keras cannot resolve
 * `mode='auto'` for them either and raises: `KLDivergence` (`kl_divergence`), `Poisson`
 * (`poisson`), the confusion counts (`true_positives`, `false_positives`, `true_negatives`,
 * `false_negatives`), `Mean`, `Sum` (probabilistic_metrics.py, confusion_metrics.py,
 * reduction_metrics.py).
 */
export const METRIC_DIRECTIONS: Readonly<Record<string, 'up' | 'down'>> = {
  // accuracy_metrics.py: Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
  // TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy - all "up".
  accuracy: 'up',
  acc: 'up',
  binary_accuracy: 'up',
  categorical_accuracy: 'up',
  sparse_categorical_accuracy: 'up',
  top_k_categorical_accuracy: 'up',
  sparse_top_k_categorical_accuracy: 'up',
  // confusion_metrics.py: Precision, Recall, AUC, and SensitivitySpecificityBase's subclasses - "up".
  precision: 'up',
  recall: 'up',
  auc: 'up',
  sensitivity_at_specificity: 'up',
  specificity_at_sensitivity: 'up',
  precision_at_recall: 'up',
  recall_at_precision: 'up',
  // f_score_metrics.py: FBetaScore (and F1Score, its subclass) - "up"; Kiln logs its F1 as `f1`.
  f1_score: 'up',
  fbeta_score: 'up',
  f1: 'up',
  // iou_metrics.py: _IoUBase - "up" for IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU.
  io_u: 'up',
  binary_io_u: 'up',
  mean_io_u: 'up',
  one_hot_io_u: 'up',
  one_hot_mean_io_u: 'up',
  // regression_metrics.py: the errors "down"; CosineSimilarity and R2Score "up".
  mean_squared_error: 'down',
  mse: 'down',
  mean_absolute_error: 'down',
  mae: 'down',
  mean_absolute_percentage_error: 'down',
  mean_squared_logarithmic_error: 'down',
  root_mean_squared_error: 'down',
  logcosh: 'down',
  cosine_similarity: 'up',
  r2_score: 'up',
  // correlation_metrics.py: PearsonCorrelation, ConcordanceCorrelation - "up".
  pearson_correlation: 'up',
  concordance_correlation: 'up',
  // hinge_metrics.py: Hinge, SquaredHinge, CategoricalHinge - "down".
  hinge: 'down',
  squared_hinge: 'down',
  categorical_hinge: 'down',
  // probabilistic_metrics.py: the three crossentropies - "down".
  binary_crossentropy: 'down',
  categorical_crossentropy: 'down',
  sparse_categorical_crossentropy: 'down',
};
