"""Report sections for a cohort analysis (:class:`~sensitize.cohort.analyze.CohortAnalysis`).

Sample matching, scale detection, endpoints and response labels come from the cohort's
detection record (``analysis.params["detection"]``, i.e. ``Cohort.report``), so the report
needs no other object; pass ``cohort=`` to take time units from the cohort itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from sensitize.cohort.analyze import CohortAnalysis
from sensitize.report._common import (
    DEFAULT_TOP,
    add_figure,
    existing,
    fmt,
    fmt_p,
    int_setting,
    table,
)
from sensitize.report.model import Section

SURVIVAL_SHOWN = ["biomarker", "kind", "endpoint", "n", "events", "HR_per_SD", "HR_per_SD_lower95",
                  "HR_per_SD_upper95", "wald_p", "wald_fdr", "concordance", "ph_p", "median_split_logrank_p",
                  "cutpoint", "n_low", "n_high", "p_corrected", "p_perm", "naive_p_uncorrected", "warnings"]
RESPONSE_SHOWN = ["biomarker", "kind", "n_responders", "n_nonresponders", "AUC", "AUC_lower95", "AUC_upper95",
                  "p", "fdr", "OR_per_SD", "OR_per_SD_lower95", "OR_per_SD_upper95"]


def _detection(res: CohortAnalysis, context: Mapping[str, Any]) -> dict[str, Any]:
    cohort = context.get("cohort")
    if cohort is not None and getattr(cohort, "report", None):
        return dict(cohort.report)
    return dict(res.params.get("detection") or {})


def qc_section(res: CohortAnalysis, det: Mapping[str, Any]) -> Section:
    """Sample matching, expression scale, duplicated genes, endpoints, response labels, coverage."""
    sec = Section("Data checks: samples, scale, endpoints")
    s = det.get("samples") or {}
    if s:
        sec.text = (f"{s.get('n_matched')} sample(s) analysed: expression {s.get('n_expression')}, clinical "
                    f"{s.get('n_clinical')}; sample IDs from column {det.get('sample_col')!r}.")
        for key, label in (("only_in_expression", "expression samples without clinical data (not analysed)"),
                           ("only_in_clinical", "clinical samples without expression (not analysed)")):
            ids = list(s.get(key) or [])
            if ids:
                sec.items.append(f"{len(ids)} {label}: {', '.join(map(str, ids[:20]))}"
                                 + (f" (+{len(ids) - 20} more)" if len(ids) > 20 else ""))
    sc = det.get("scale") or {}
    if sc:
        sec.items.append(f"Expression scale: {sc.get('note', '')}; analysed as {sc.get('unit', '')}.")
    dup = det.get("duplicated_genes") or {}
    if dup.get("n"):
        sec.items.append(f"{dup['n']} duplicated gene symbol(s) resolved by '{dup.get('policy')}'.")
    for n in det.get("gene_id_notes") or []:
        sec.items.append(str(n))
    eps = det.get("endpoints") or {}
    if eps:
        rows = []
        for name, d in eps.items():
            rows.append({"endpoint": name, "time_col": d.get("time_col"), "event_col": d.get("event_col"),
                         "unit": d.get("unit"), "event_coding": d.get("event_coding"), "n": d.get("n"),
                         "events": d.get("events"), "n_missing": d.get("n_missing"),
                         "notes": "; ".join(map(str, d.get("notes") or []))})
        sec.tables.append(table(pd.DataFrame(rows), "Survival endpoints", top=None))
    else:
        sec.items.append("No survival endpoint was found.")
    r = det.get("response") or {}
    if r.get("column"):
        sec.items.append(f"Response column {r['column']!r} ({r.get('why', '')}), rule {r.get('rule')!r}: "
                         f"{r.get('n_responders')} responders, {r.get('n_nonresponders')} non-responders, "
                         f"{r.get('n_missing')} not evaluable.")
        outside = r.get("labels_outside_rule") or {}
        if outside:
            sec.items.append("Labels outside the rule (excluded): "
                             + ", ".join(f"{k} (n={len(v)})" for k, v in outside.items()))
    elif r:
        sec.items.append(f"No response column ({r.get('why', '')}).")
    if res.scores is not None and len(res.scores.coverage):
        sec.tables.append(table(res.scores.coverage, "Signature gene coverage", top=None))
    return sec


def summary_items(res: CohortAnalysis, det: Mapping[str, Any]) -> list[str]:
    """Key findings: sample counts, best response and survival biomarkers."""
    out: list[str] = []
    s = det.get("samples") or {}
    name = res.params.get("cohort", "cohort")
    out.append(f"Cohort {name}: {s.get('n_matched', len(res.features))} sample(s); "
               f"{res.features.shape[1]} biomarker(s)/signature(s) analysed.")
    if len(res.response) and res.response["AUC"].notna().any():
        b = res.response.iloc[int(np.nanargmax((res.response["AUC"] - 0.5).abs().to_numpy(dtype=float)))]
        out.append(f"Response: strongest {b['biomarker']} AUC {fmt(b['AUC'])} ({fmt(b['AUC_lower95'])}-"
                   f"{fmt(b['AUC_upper95'])}), {fmt_p(b['p'])}.")
    t = res.table
    if len(t) and t["wald_p"].notna().any():
        for ep in dict.fromkeys(t["endpoint"]):
            sub = t[(t["endpoint"] == ep) & t["wald_p"].notna()]
            if sub.empty:
                continue
            b = sub.iloc[int(np.argmin(sub["wald_p"].to_numpy(dtype=float)))]
            out.append(f"{str(ep).upper()}: strongest {b['biomarker']} HR per SD {fmt(b['HR_per_SD'])} "
                       f"({fmt(b['HR_per_SD_lower95'])}-{fmt(b['HR_per_SD_upper95'])}), Wald {fmt_p(b['wald_p'])}; "
                       f"cut-point {fmt(b['cutpoint'])}, corrected {fmt_p(b['p_corrected'])}.")
    return out


def cohort_sections(res: CohortAnalysis, context: Mapping[str, Any]) -> tuple[list[str], list[Section]]:
    """Summary and sections of a cohort report."""
    from sensitize.pl.cohort import plot_forest, plot_km, plot_maxstat, plot_roc

    det = _detection(res, context)
    top = int_setting(context, "top", DEFAULT_TOP)
    n_plots = int_setting(context, "n_plots", 3)
    cohort = context.get("cohort")
    units = {k: (cohort.endpoints[k].unit if cohort is not None and k in cohort.endpoints
                 else (det.get("endpoints") or {}).get(k, {}).get("unit", ""))
             for k in dict.fromkeys(res.table["endpoint"]) if isinstance(k, str)} if len(res.table) else {}
    sections = [qc_section(res, det)]

    resp = Section("Biomarkers and response")
    resp.text = ("Responders against non-responders: ROC AUC with DeLong 95% confidence interval, Mann-Whitney "
                 "p-value and Benjamini-Hochberg FDR; logistic odds ratio per SD.")
    if len(res.response):
        r = res.response.sort_values("p", na_position="last")
        resp.tables.append(table(r, "Response association (smallest p first)", existing(r, RESPONSE_SHOWN),
                                 top=top))
        rr = res.response_result
        if rr is not None and rr.roc:
            names = list(r["biomarker"].head(6))
            add_figure(resp, "ROC curves of the strongest biomarkers (AUC and DeLong 95% CI in the legend).",
                       lambda: plot_roc(rr, [b for b in names if b in rr.roc],
                                        title=f"{res.params.get('cohort', '')}: responders vs non-responders"))
    else:
        resp.text = "No response association was computed (no response column)."
    sections.append(resp)

    surv = Section("Biomarkers and survival")
    surv.text = ("Cox proportional-hazards model per biomarker (HR per unit and per SD, Wald p, BH FDR per "
                 "endpoint, PH-test p); Kaplan-Meier log-rank at the median; the maximally selected cut-point "
                 "with its p-value corrected for the search (Lausen & Schumacher 1992; permutation p). "
                 "naive_p_uncorrected is the log-rank p at the chosen cut and is NOT a valid p-value.")
    t = res.table
    if len(t):
        for ep in dict.fromkeys(t["endpoint"]):
            sub = t[t["endpoint"] == ep].sort_values("wald_p", na_position="last")
            surv.tables.append(table(sub, f"{str(ep).upper()} ({units.get(ep, '')})", existing(sub, SURVIVAL_SHOWN),
                                     top=top))
            if sub["HR_per_SD"].notna().any():
                add_figure(surv, f"{str(ep).upper()}: hazard ratio per SD with 95% CI.",
                           partial(plot_forest, sub, title=f"{res.params.get('cohort', '')}: {str(ep).upper()}"))
            ok = sub[np.isfinite(sub["p_corrected"].to_numpy(dtype=float))].sort_values("p_corrected")
            for i, b in enumerate(ok["biomarker"].head(n_plots)):
                km = res.km.get((b, ep, "maxstat"))
                ms = res.maxstat.get((b, ep))
                if km is None or ms is None:
                    continue
                lab = (f"cut {ms.cutpoint:.3g}: corrected p = {ms.p_lau92:.2g} (Lau92)"
                       + (f", perm p = {ms.p_perm:.2g}" if np.isfinite(ms.p_perm) else ""))
                add_figure(surv, f"Kaplan-Meier of {str(ep).upper()} split at the maximally selected cut-point of {b}.",
                           partial(plot_km, km, title=f"{b} ({str(ep).upper()}), maximally selected cut",
                                   time_unit=units.get(ep, "") or "time", p_label=lab))
                if i == 0 and len(ms.table):
                    add_figure(surv, f"Cut-point scan of {b} ({str(ep).upper()}): standardised log-rank statistic.",
                               partial(plot_maxstat, ms, b, str(res.params.get("unit", ""))))
    else:
        surv.text = "No survival endpoint was analysed."
    sections.append(surv)
    return summary_items(res, det), sections
