"""One-call analysis of a cohort: signatures, response and survival association per biomarker.

:func:`analyze_cohort` returns a :class:`CohortAnalysis` with

* ``survival`` — one row per biomarker and endpoint: n, events, Cox coefficient, HR
  (per unit), HR per SD, Wald p, PH-test p, median-split and tertile log-rank p, the
  maximally selected cut-point with its statistic, the corrected p-values (``p_corrected``
  = Lausen-Schumacher 1992; ``p_lau94``, ``p_exact_gauss``, ``p_perm``) and — last, and
  only as such — ``naive_p_uncorrected``;
* ``response`` — one row per biomarker: n responders / non-responders, AUC with DeLong
  95% CI, Mann-Whitney p, BH-FDR, logistic odds ratios;
* ``scores`` and ``coverage`` — signature scores and the genes found per signature;
* the fitted objects (Kaplan-Meier, maxstat, Cox, ROC, time-dependent AUC) for plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sensitize.cohort.data import Cohort
from sensitize.cohort.maxstat import MaxstatResult, maxstat_test
from sensitize.cohort.response import ResponseAssociation, bh_fdr, response_association
from sensitize.cohort.signatures import SignatureScores, score_signatures
from sensitize.cohort.survival import CoxResult, KMResult, cox_biomarker, kaplan_meier, split_groups
from sensitize.cohort.timeroc import TimeDependentAUC, cumulative_dynamic_auc
from sensitize.core.errors import InputError
from sensitize.core.results import Result

SURVIVAL_COLUMNS = [
    "cohort", "biomarker", "kind", "endpoint", "time_unit", "n", "events", "n_excluded",
    "cox_coef", "cox_se", "HR", "HR_lower95", "HR_upper95", "wald_p", "wald_fdr",
    "cox_coef_per_SD", "HR_per_SD", "HR_per_SD_lower95", "HR_per_SD_upper95", "lrt_p",
    "concordance", "ph_p", "covariates",
    "median_split_cut", "median_split_logrank_p", "median_low", "median_high",
    "tertile_logrank_p",
    "cutpoint", "n_low", "n_high", "maxstat_statistic", "p_corrected", "p_corrected_method",
    "p_lau94", "p_exact_gauss", "p_perm", "n_perm", "naive_p_uncorrected", "warnings",
]


@dataclass
class CohortAnalysis(Result):
    """Results of :func:`analyze_cohort` (``table`` is the survival table)."""

    response: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: SignatureScores | None = None
    response_result: ResponseAssociation | None = None
    km: dict[tuple[str, str, str], KMResult] = field(default_factory=dict)
    maxstat: dict[tuple[str, str], MaxstatResult] = field(default_factory=dict)
    cox: dict[tuple[str, str], CoxResult] = field(default_factory=dict)
    time_auc: dict[tuple[str, str], TimeDependentAUC] = field(default_factory=dict)
    features: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def survival(self) -> pd.DataFrame:
        """The survival table (one row per biomarker and endpoint)."""
        return self.table


def _feature_table(
    cohort: Cohort, biomarkers: Sequence[str], scores: SignatureScores | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    cols: dict[str, pd.Series] = {}
    kinds: dict[str, str] = {}
    for b in biomarkers:
        s = cohort.feature(b)
        kinds[b] = "gene" if (b in cohort.expression.index or b.upper() in
                              {str(g).upper() for g in cohort.expression.index}) else "clinical"
        cols[b] = s.reindex(cohort.samples)
    if scores is not None:
        for c in scores.table.columns:
            name = c if c not in cols else f"{c} (signature)"
            cols[name] = scores.table[c].reindex(cohort.samples)
            kinds[name] = "signature"
    return pd.DataFrame(cols, index=cohort.samples), kinds


def analyze_cohort(
    cohort: Cohort,
    biomarkers: Sequence[str] = (),
    signatures: Sequence[str] = (),
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    *,
    gene_set_method: str = "mean",
    covariates: Sequence[str] = (),
    endpoints: Sequence[str] | None = None,
    minprop: float = 0.1,
    maxprop: float = 0.9,
    n_perm: int = 1000,
    seed: int = 0,
    exact_gauss: bool = True,
    auc_times: Sequence[float] | None = None,
    min_fraction: float = 0.5,
) -> CohortAnalysis:
    """Analyse biomarkers and signatures against response and every survival endpoint.

    Parameters
    ----------
    cohort
        From :func:`sensitize.cohort.data.build_cohort` or the readers in
        :mod:`sensitize.io.cohort`.
    biomarkers
        Genes (or numeric clinical columns) analysed as continuous biomarkers.
    signatures, gene_sets, gene_set_method, min_fraction
        Signature scores to compute and analyse (see :func:`score_signatures`).
    covariates
        Clinical columns adjusted for in the Cox and logistic models.
    endpoints
        Endpoint names to analyse (default: all of the cohort's).
    minprop, maxprop, n_perm, seed, exact_gauss
        Cut-point search (see :func:`maxstat_test`).
    auc_times
        Horizons for the time-dependent AUC (default: quartiles of the event times).
    """
    if not biomarkers and not signatures and not gene_sets:
        raise InputError("nothing to analyse: give at least one biomarker or signature")
    for c in covariates:
        if c not in cohort.clinical.columns:
            raise InputError(f"covariate {c!r} not found in the clinical table",
                             file=cohort.report.get("clinical_file"), column=c)
    scores = None
    if signatures or gene_sets:
        scores = score_signatures(cohort.expression, list(signatures), gene_sets,
                                  gene_set_method=gene_set_method, min_fraction=min_fraction)
    feats, kinds = _feature_table(cohort, biomarkers, scores)
    cov = cohort.clinical[list(covariates)] if covariates else None
    eps = list(cohort.endpoints) if endpoints is None else [e.lower() for e in endpoints]
    for e in eps:
        if e not in cohort.endpoints:
            raise InputError(
                f"endpoint {e!r} not found; detected endpoints: {', '.join(cohort.endpoints) or 'none'} "
                "(name the columns with --os-time/--os-event or --endpoint NAME TIME EVENT)"
            )
    out = CohortAnalysis(pd.DataFrame(columns=SURVIVAL_COLUMNS), scores=scores, features=feats)
    rows: list[dict[str, Any]] = []
    for ep_name in eps:
        ep = cohort.endpoints[ep_name]
        for b in feats.columns:
            x = feats[b]
            ok = ep.complete() & x.notna()
            if cov is not None:
                ok &= cov.notna().all(axis=1)
            row: dict[str, Any] = {"cohort": cohort.name, "biomarker": b, "kind": kinds[b],
                                   "endpoint": ep_name, "time_unit": ep.unit,
                                   "n": int(ok.sum()), "events": int(ep.event[ok].sum()),
                                   "n_excluded": int((~ok).sum()),
                                   "covariates": " ".join(covariates)}
            warns: list[str] = []
            if ok.sum() < 5 or ep.event[ok].sum() < 2 or x[ok].nunique() < 2:
                warns.append("too few samples/events or constant biomarker: not analysed")
                row["warnings"] = "; ".join(warns)
                rows.append(row)
                continue
            t, d, xv = ep.time[ok], ep.event[ok], x[ok]
            cx = cox_biomarker(t, d, xv, None if cov is None else cov[ok])
            out.cox[(b, ep_name)] = cx
            warns.extend(cx.warnings)
            row.update({
                "cox_coef": cx.coef, "cox_se": cx.se, "HR": cx.hr, "HR_lower95": cx.hr_lower95,
                "HR_upper95": cx.hr_upper95, "wald_p": cx.wald_p, "cox_coef_per_SD": cx.coef_per_sd,
                "HR_per_SD": cx.hr_per_sd, "HR_per_SD_lower95": cx.hr_per_sd_lower95,
                "HR_per_SD_upper95": cx.hr_per_sd_upper95, "lrt_p": cx.lrt_p,
                "concordance": cx.concordance, "ph_p": cx.ph_p,
            })
            grp = split_groups(xv, "median")
            km = kaplan_meier(t, d, grp, order=["low", "high"])
            out.km[(b, ep_name, "median")] = km
            med = km.summary.set_index("group")["median"] if len(km.summary) else pd.Series(dtype=float)
            row.update({"median_split_cut": float(xv.median()), "median_split_logrank_p": km.logrank_p,
                        "median_low": med.get("low", np.nan), "median_high": med.get("high", np.nan)})
            if xv.nunique() >= 3:
                kmt = kaplan_meier(t, d, split_groups(xv, "tertile"), order=["low", "mid", "high"])
                out.km[(b, ep_name, "tertile")] = kmt
                row["tertile_logrank_p"] = kmt.logrank_p
            ms = maxstat_test(t, d, xv, minprop=minprop, maxprop=maxprop, n_perm=n_perm, seed=seed,
                              exact_gauss=exact_gauss)
            out.maxstat[(b, ep_name)] = ms
            if np.isfinite(ms.cutpoint):
                out.km[(b, ep_name, "maxstat")] = kaplan_meier(
                    t, d, split_groups(xv, "cut", ms.cutpoint), order=["low", "high"])
            row.update({
                "cutpoint": ms.cutpoint, "n_low": ms.n_low, "n_high": ms.n_high,
                "maxstat_statistic": ms.statistic, "p_corrected": ms.p_corrected,
                "p_corrected_method": "Lausen-Schumacher 1992", "p_lau94": ms.p_lau94,
                "p_exact_gauss": ms.p_exact_gauss, "p_perm": ms.p_perm, "n_perm": ms.n_perm,
                "naive_p_uncorrected": ms.naive_p_uncorrected,
            })
            try:
                out.time_auc[(b, ep_name)] = cumulative_dynamic_auc(t, d, xv, auc_times)
            except InputError as exc:  # pragma: no cover - complete data by construction
                warns.append(str(exc))
            row["warnings"] = "; ".join(warns)
            rows.append(row)
    surv = pd.DataFrame(rows).reindex(columns=SURVIVAL_COLUMNS)
    if len(surv):
        for ep_name in eps:
            sel = surv["endpoint"] == ep_name
            surv.loc[sel, "wald_fdr"] = bh_fdr(surv.loc[sel, "wald_p"].to_numpy(dtype=float))
    out.table = surv
    if cohort.response is not None:
        rr = response_association({b: feats[b] for b in feats.columns}, cohort.response.labels, cov)
        rr.table.insert(0, "cohort", cohort.name)
        rr.table.insert(2, "kind", [kinds[b] for b in rr.table["biomarker"]])
        out.response_result = rr
        out.response = rr.table
    out.params = {
        "cohort": cohort.name, "unit": cohort.unit, "biomarkers": list(biomarkers),
        "signatures": list(signatures), "gene_sets": list(gene_sets or {}),
        "covariates": list(covariates), "endpoints": eps, "minprop": minprop, "maxprop": maxprop,
        "n_perm": n_perm, "seed": seed,
        "p_corrected": "Lausen & Schumacher (1992) approximation for the maximally selected "
                       "log-rank statistic; naive_p_uncorrected is the log-rank p at the selected "
                       "cut and is NOT a valid p-value",
        "detection": cohort.report,
    }
    return out
