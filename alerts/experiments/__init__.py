"""The statistics of an experiment's comparison (A/B split, canary, shadow): one typed
`Comparison` per metric, with the effect, its 95% confidence interval, a p-value and a
verdict, and always-valid (sequential) inference for a canary watched every minute.

Pure: arrays and counts in, results out; no I/O. Modules: `result` (the types and the
verdict rule), `inputs` (checks of samples), `latency` (Mann-Whitney with the
Hodges-Lehmann shift; quantile differences), `quantiles` (the exact bootstrap of a
quantile), `pairwise` (order statistics of pairwise differences and Walsh averages),
`means` (mean cost: Welch or bootstrap), `per_token` (cost per 1M tokens: delta method),
`rates` (two proportions: Newcombe interval, chi-square or Fisher), `paired` (shadow
pairs: Wilcoxon signed-rank), `multiple` (Holm), `sequential` (confidence sequences and
always-valid p-values), `gate` (the canary's pass / fail / continue)."""
