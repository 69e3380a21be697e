"""Report sections for an in vivo study (:class:`~sensitize.invivo.study.InvivoAnalysis`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sensitize.invivo.study import InvivoAnalysis
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


def invivo_params(res: InvivoAnalysis) -> dict[str, Any]:
    """Every setting of the study analysis: design, growth model, response, synergy, survival."""
    s = res.study
    a = res.arms
    out: dict[str, Any] = {
        "source": s.source,
        "groups": list(s.groups),
        "control": s.control,
        "arms": None if a is None else {"control": a.control, "drug_a": a.drug_a, "drug_b": a.drug_b,
                                        "combination": a.combination, "drug_c": a.drug_c},
        "time_start": s.time_start,
        "detection_limit": s.detection_limit,
    }
    if s.growth_rates is not None:
        out["growth_model"] = s.growth_rates.params
    if s.longitudinal is not None:
        out["longitudinal"] = s.longitudinal.params
    out["response"] = res.response.params
    if res.synergy is not None:
        out["synergy"] = res.synergy.params
    if res.survival is not None:
        out["survival"] = res.survival.params
    if res.cross_sectional is not None:
        out["cross_sectional"] = {k: v for k, v in res.cross_sectional.params.items()
                                  if k not in ("summary", "global")}
    return out


def _final_synergy(res: InvivoAnalysis) -> pd.DataFrame:
    """Synergy estimates at the last time point of each model, metric and basis."""
    if res.synergy is None or res.synergy.table.empty:
        return pd.DataFrame()
    t = res.synergy.table
    last = t.groupby(["basis", "model", "metric"], dropna=False)["time"].transform("max")
    return t[t["time"] == last].sort_values(["basis", "model", "metric"]).reset_index(drop=True)


def summary_items(res: InvivoAnalysis) -> list[str]:
    """Key findings for the summary."""
    s = res.study
    out = [f"{s.data['animal'].nunique()} animals in {len(s.groups)} groups ({', '.join(s.groups)}); "
           f"control {s.control}."]
    gr = res.growth_rates_table()
    if len(gr):
        parts = [f"{r.group} {fmt(r.rate)}/day" for r in gr.itertuples()]
        out.append("Exponential growth rates (mixed model): " + "; ".join(parts) + ".")
    g = res.response.groups
    if len(g) and "tgi_delta" in g.columns:
        day = g["tgi_day"].dropna().iloc[0] if g["tgi_day"].notna().any() else np.nan
        parts = [f"{r.group} {fmt(r.tgi_delta)}%" for r in g.itertuples() if r.group != s.control]
        out.append(f"TGI at day {fmt(day)}: " + "; ".join(parts) + ".")
    fin = _final_synergy(res)
    if len(fin):
        ss = fin[(fin["metric"] == "SS") & (fin["basis"] == "lmm")]
        for r in ss.itertuples():
            out.append(f"{r.model} synergy score at day {fmt(r.time)} (mixed model): {fmt(r.estimate)} "
                       f"[{fmt(r.lower)}, {fmt(r.upper)}], {fmt_p(r.p)} (> 0: synergy).")
    if res.survival is not None and res.survival.logrank_global:
        out.append(f"Time to endpoint: global log-rank {fmt_p(res.survival.logrank_global.get('p'))}.")
    return out


def invivo_sections(res: InvivoAnalysis, context: Mapping[str, Any]) -> tuple[list[str], list[Section]]:
    """Summary and sections of an in vivo report."""
    s = res.study
    top = int_setting(context, "top", DEFAULT_TOP)
    qc = Section("Data validation")
    qc.text = (f"Treatment start day {fmt(s.time_start)}; volumes below the detection limit "
               f"({fmt(s.detection_limit)} mm³) are set to it before logs.")
    qc.items.extend(str(n) for n in res.notes)
    qc.tables.append(table(s.flags.flags, "Validation flags", top=None))
    excl = s.data.attrs.get("excluded")
    if excl is not None and len(list(excl)):
        ex = pd.DataFrame(list(excl), columns=["source_row", "animal", "group", "day", "value", "reason"])
        qc.tables.append(table(ex, "Input rows excluded", top=None))
    else:
        qc.items.append("No input row was excluded.")
    if s.diagnostics is not None:
        qc.tables.append(table(pd.DataFrame([s.diagnostics.params]),
                               "Mixed-model diagnostics (Shapiro-Wilk of residuals and random slopes, Levene)",
                               top=None))

    growth = Section("Tumour growth")
    growth.text = ("Exponential growth rates per group from the linear mixed model of log relative tumour volume "
                   "(random slope per animal, REML); pairwise slope comparisons with Holm adjustment.")
    growth.tables.append(table(res.growth_rates_table(), "Growth rates (per day)", top=None))
    if s.longitudinal is not None:
        growth.tables.append(table(s.longitudinal.table, "Pairwise comparison of growth rates", top=top))
        if s.longitudinal.global_test:
            growth.tables.append(table(pd.DataFrame([s.longitudinal.global_test]),
                                       "Global test of equal growth rates", top=None))
    add_figure(growth, "Tumour volume per animal and group mean ± SEM.", lambda: _pl().growth_curves(s))

    resp = Section("Response: TGI, T/C and mRECIST")
    resp.text = ("Tumour growth inhibition and T/C at the TGI day, best response and mRECIST class per animal "
                 "(Gao et al. 2015 thresholds).")
    rg = res.response.groups
    resp.tables.append(table(rg, "Per group", top=None))
    ra = res.response.table
    if "best_response" in ra.columns:
        ra = ra.sort_values("best_response", na_position="last")
    resp.tables.append(table(ra, "Per animal (best response first)",
                             existing(ra, ["animal", "group", "v0", "delta_v", "rtv", "best_response",
                                           "best_average_response", "mrecist", "tumor_free"]), top=top))
    if res.cross_sectional is not None:
        resp.tables.append(table(res.cross_sectional.table, "Cross-sectional comparison of log volumes",
                                 top=top))
    add_figure(resp, "Waterfall of best response, coloured by mRECIST class.",
               lambda: _pl().waterfall(res.response))

    sections = [qc, growth, resp]
    if res.synergy is not None and len(res.synergy.table):
        syn = Section("Combination synergy over time")
        a = res.arms
        syn.text = ((f"Combination {a.combination} against {a.drug_a} and {a.drug_b} (control {a.control}). "
                     if a is not None else "")
                    + "Bliss, HSA and response-additivity (RA) synergy from the mixed model (SynergyLMM-style), "
                      "CI < 1 and SS > 0 indicate synergy.")
        syn.tables.append(table(_final_synergy(res), "At the last time point", top=None))
        syn.tables.append(table(res.synergy.table, "All time points", top=top))
        add_figure(syn, "Combination index and synergy score over time (95% intervals).",
                   lambda: _pl().synergy_over_time(res.synergy))  # type: ignore[arg-type]
        sections.append(syn)
    if res.survival is not None:
        sv = res.survival
        surv = Section("Time to endpoint")
        surv.text = (f"Rule: {sv.params.get('rule', '')}; endpoint volume {sv.params.get('endpoint')}. "
                     f"Global log-rank {fmt_p(sv.logrank_global.get('p'))}.")
        surv.tables.append(table(sv.medians, "Median time to endpoint", top=None))
        surv.tables.append(table(sv.logrank_pairwise, "Pairwise log-rank tests", top=top))
        surv.tables.append(table(sv.cox, "Cox model versus control", top=None))
        surv.tables.append(table(sv.regressions, "Complete regressions", top=None))
        if len(sv.km):
            add_figure(surv, "Kaplan-Meier curves of time to endpoint.",
                       lambda: _pl().kaplan_meier(sv, s.groups))
        sections.append(surv)
    return summary_items(res), sections


def _pl() -> Any:
    from sensitize.pl import invivo

    return invivo
