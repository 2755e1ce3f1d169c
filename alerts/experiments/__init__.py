"""The statistics of an experiment's comparison (A/B split, canary, shadow): one typed
`Comparison` per metric, with the effect, its 95% confidence interval, a p-value and a
verdict, and always-valid (sequential) inference for a canary watched every minute.

Pure: arrays and counts in, results out; no I/O. Modules: `result` (the types), `latency`
(Mann-Whitney with the Hodges-Lehmann shift, quantile differences), `quantiles` (the exact
bootstrap of a quantile), `means` (mean cost: Welch or bootstrap; cost per token: delta
method), `rates` (two proportions: Newcombe interval, chi-square or Fisher), `paired`
(shadow pairs: Wilcoxon signed-rank), `multiple` (Holm), `sequential` (confidence
sequences, always-valid p-values, the canary gate)."""
