"""sensitize.pl: plots that take result objects and return figures (never compute).

Modules: :mod:`sensitize.pl.screen` (dose-response, synergy landscapes, ranking, Pareto),
:mod:`sensitize.pl.plates` (plate maps, QC, viability vs induction),
:mod:`sensitize.pl.invivo` (growth curves, synergy over time, Kaplan-Meier, waterfall),
:mod:`sensitize.pl.cohort` (Kaplan-Meier, ROC, forest, maxstat, time-dependent AUC).
See ``docs/plots.md``.
"""

from sensitize.pl.screen import dose_response, landscape, pareto, response_matrix, synergy_ranking

__all__ = ["dose_response", "landscape", "pareto", "response_matrix", "synergy_ranking"]
