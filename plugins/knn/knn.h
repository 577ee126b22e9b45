/* The knn plugin's internal interface: the fitted model (model.c) and the
 * neighbour scan over it (scan.c). knn.c owns the contract's side. */
#ifndef KNN_H
#define KNN_H

#include "trainhost.h"

/* Epochs of fitting (and of scoring the validation rows): the rows in this many chunks. */
#define KNN_CHUNKS 10u

enum { KNN_UNIFORM = 0, KNN_DISTANCE = 1 };
enum { KNN_EUCLIDEAN = 0, KNN_MANHATTAN = 1 };

typedef struct {
  uint32_t k;
  int weights, metric;
  double categorical_weight;
} knn_settings;

/* A fitted model: the training rows, standardised, with their targets. */
typedef struct {
  th_task task;
  uint32_t k; /* at most `rows` */
  int weights, metric;
  double categorical_weight;
  uint32_t n_columns, n_numeric, n_categorical, rows, n_classes;
  uint8_t *kinds;       /* per column, in table order: TH_NUMERIC or TH_CATEGORICAL */
  double *mean, *sd;    /* per numeric column */
  uint32_t *n_levels;   /* per categorical column; code n_levels means missing */
  double *numbers;      /* rows x n_numeric, standardised, row-major */
  uint32_t *codes;      /* rows x n_categorical, row-major */
  uint32_t *classes;    /* per row (classification) */
  double *values;       /* per row (regression) */
} knn_model;

/* Running score of predictions against the truth. */
typedef struct {
  double n, correct;           /* classification */
  double sum, sum_sq, sse;     /* regression: of the truth, and squared errors */
} knn_score;

/* Standardises and copies the training rows with a known target, reporting
 * one epoch per chunk of rows (epochs 1..chunks of total). */
th_status knn_fit(const th_request *request, const knn_settings *settings, uint32_t chunks, uint32_t total,
                  knn_model *model);
void knn_model_free(knn_model *model);
/* The model bytes: deterministic for the same rows and settings. */
void knn_model_write(const knn_model *model, th_buf *out);
th_status knn_model_read(const th_bytes *bytes, knn_model *model);

/* Predictions for every row of `features` (the training table's columns). */
th_status knn_predict(const knn_model *model, const th_table *features, th_predictions *out);
/* Predicts rows [from, to) of `features` and adds them to `score`. */
th_status knn_score_rows(const knn_model *model, const th_table *features, const th_column *truth, uint32_t from,
                         uint32_t to, knn_score *score);
/* Accuracy (classification) or R² (regression) so far. */
double knn_score_value(const knn_score *score, th_task task);

#endif
