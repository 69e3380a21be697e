"""One object for a whole study: :class:`GrowthStudy`, and :func:`analyze` used by the CLI."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.core.results import Result
from sensitize.invivo.growth import (
    GrowthRates,
    LongitudinalResult,
    cross_sectional,
    detection_limit_default,
    diagnostics,
    fit_exponential_lmm,
    fit_growth_curves,
    fit_longitudinal,
    prepare,
)
from sensitize.invivo.response import ResponseResult, compute_response, default_tgi_day
from sensitize.invivo.schema import DAY, GROUP, ValidationReport, groups_in_order, validate_study
from sensitize.invivo.survival import SurvivalResult, survival_analysis
from sensitize.invivo.synergy import SYNERGY_COLUMNS, SynergyResult, bootstrap_synergy, lmm_synergy

_CONTROL_RE = re.compile(r"^(vehicle|veh|control|ctrl|ctl|pbs|untreated|saline|placebo|isotype|ic|igg|c)\b|"
                         r"vehicle|control|untreated|isotype", re.IGNORECASE)
_SPLIT_RE = re.compile(r"\s*(?:\+|&|/|_|,|\band\b|\bplus\b)\s*", re.IGNORECASE)


@dataclass
class Arms:
    """The four roles of a combination design (``drug_c`` for three-drug designs)."""

    control: str
    drug_a: str
    drug_b: str
    combination: str
    drug_c: str | None = None

    @property
    def singles(self) -> list[str]:
        """Single-agent arms."""
        return [self.drug_a, self.drug_b] + ([self.drug_c] if self.drug_c else [])


def detect_control(groups: Sequence[str]) -> str | None:
    """The control arm when exactly one group name looks like one (vehicle, PBS, ...)."""
    hits = [g for g in groups if _CONTROL_RE.search(g)]
    if len(hits) == 1:
        return hits[0]
    exact = [g for g in hits if re.fullmatch(r"(vehicle|control|ctrl|pbs|untreated)", g, re.IGNORECASE)]
    return exact[0] if len(exact) == 1 else None


def detect_arms(groups: Sequence[str], control: str | None = None, drug_a: str | None = None,
                drug_b: str | None = None, combination: str | None = None,
                source: str | None = None) -> tuple[Arms | None, str]:
    """Fill in the combination-design roles; returns (arms or None, explanation).

    Rules: names given are checked to exist; the combination is the group whose name
    splits (on ``+ & / _ , and plus``) into two or three other group names, or a group
    named ``Combination``/``Combo``; the control is the group named like a control
    (vehicle, control, PBS, isotype, ...), else, with exactly four groups listed control,
    A, B, combination (invivoSyn's convention), the first group.
    """
    gl = list(groups)
    for name, val in (("control", control), ("drug-a", drug_a), ("drug-b", drug_b), ("combination", combination)):
        if val is not None and val not in gl:
            raise InputError(f"--{name} {val!r} is not a group of the study (groups: {', '.join(gl)})",
                             file=source, column=GROUP)
    low = {g.lower(): g for g in gl}
    if combination is None:
        cands = []
        for g in gl:
            parts = [p for p in _SPLIT_RE.split(g) if p]
            if len(parts) in (2, 3) and all(p.lower() in low and low[p.lower()] != g for p in parts):
                cands.append((g, [low[p.lower()] for p in parts]))
        if len(cands) == 1:
            combination = cands[0][0]
            if drug_a is None and drug_b is None:
                parts = cands[0][1]
                drug_a, drug_b = parts[0], parts[1]
                drug_c = parts[2] if len(parts) == 3 else None
                ctrl = control or detect_control([x for x in gl if x not in parts and x != combination])
                if ctrl is None:
                    return None, "combination found but no control arm could be identified; pass --control"
                return Arms(ctrl, drug_a, drug_b, combination, drug_c), f"combination {combination!r} detected by name"
        else:
            named = [g for g in gl if re.fullmatch(r"(combination|combo|comb|drug_?ab)", g, re.IGNORECASE)]
            if len(named) == 1:
                combination = named[0]
    if control is None:
        control = detect_control(gl)
    if combination is None:
        return None, "no combination arm could be identified; pass --combination (and --drug-a/--drug-b)"
    rest = [g for g in gl if g not in {control, combination, drug_a, drug_b}]
    if control is None and len(gl) == 4:
        control = gl[0]
        rest = [g for g in gl if g not in {control, combination, drug_a, drug_b}]
    if control is None:
        return None, "no control arm could be identified; pass --control"
    if drug_a is None and rest:
        drug_a = rest.pop(0)
    if drug_b is None and rest:
        drug_b = rest.pop(0)
    if drug_a is None or drug_b is None:
        return None, "the two single-agent arms could not be identified; pass --drug-a and --drug-b"
    if rest and not {control, drug_a, drug_b, combination} >= set(gl) and len(gl) > 4:
        return Arms(control, drug_a, drug_b, combination), (
            f"arms assigned by order; other groups ({', '.join(rest)}) are not part of the synergy design")
    return Arms(control, drug_a, drug_b, combination), "arms assigned by name/order"


class GrowthStudy:
    """A tumour-growth study: validated data plus every analysis of it.

    Parameters
    ----------
    df
        Tidy table (``animal, group, day, volume`` [+ ``censored``]), e.g. from
        :func:`sensitize.io.invivo.read_invivo`.
    control
        Control arm (auto-detected from the names when omitted).
    time_start
        Treatment start day (default: the first day of the study); times are
        ``day - time_start``.
    detection_limit
        Volumes below it (zeros) are set to it before logs (default: half the smallest
        positive volume).

    Examples
    --------
    >>> from sensitize.invivo import GrowthStudy, simulate_study
    >>> study = GrowthStudy(simulate_study(seed=1)).fit()
    >>> study.growth_rates.table.columns.tolist()[:3]
    ['group', 'rate', 'se']
    """

    def __init__(self, df: pd.DataFrame, *, control: str | None = None, time_start: float | None = None,
                 detection_limit: float | None = None) -> None:
        self.data, self.flags = validate_study(df)
        self.source = str(self.data.attrs.get("source", "study table"))
        self.groups = groups_in_order(self.data)
        if control is not None and control not in self.groups:
            raise InputError(f"control {control!r} is not a group (groups: {', '.join(self.groups)})",
                             file=self.source, column=GROUP)
        self.control = control if control is not None else detect_control(self.groups)
        self.time_start = float(self.data[DAY].min()) if time_start is None else float(time_start)
        self.detection_limit = detection_limit_default(self.data) if detection_limit is None else float(detection_limit)
        self.prep = prepare(self.data, self.time_start, self.detection_limit)
        self.growth_rates: GrowthRates | None = None
        self.longitudinal: LongitudinalResult | None = None
        self.curves: Result | None = None
        self.diagnostics: Result | None = None
        self.notes: list[str] = []

    @property
    def report(self) -> ValidationReport:
        """Soft problems found in the data (alias of ``flags``)."""
        return self.flags

    def _usable_groups(self) -> list[str]:
        zero = set(self.flags.flags.loc[self.flags.flags["kind"] == "all_zero_group", "group"])
        return [g for g in self.groups if g not in zero]

    def fit(self, *, time_end: float | None = None, min_observations: int = 1, response: str = "log_volume",
            random: str = "auto", p_adjust: str = "holm") -> GrowthStudy:
        """Fit the exponential mixed model, the TumGrowth model and growth curves.

        Groups with no tumour ever measured are left out of the models (flagged).  Each
        fitted component that fails is recorded in ``notes`` and left as None.
        """
        groups = self._usable_groups()
        try:
            self.growth_rates = fit_exponential_lmm(self.prep, groups, time_end, min_observations)
            gr = self.growth_rates
            for g in self.groups:
                if g not in groups:
                    gr.table = pd.concat([gr.table, pd.DataFrame([{GROUP: g, "rate": np.nan, "se": np.nan,
                                                                   "n_animals": 0, "n_obs": 0}])],
                                         ignore_index=True)
            if gr.fit is not None:
                self.diagnostics = diagnostics(gr.fit, gr.data)
        except (ValueError, np.linalg.LinAlgError) as exc:
            self.notes.append(f"exponential mixed model not fitted: {exc}")
        try:
            self.longitudinal = fit_longitudinal(self.prep, groups, response=response, random=random,
                                                 p_adjust=p_adjust)
        except (ValueError, np.linalg.LinAlgError) as exc:
            self.notes.append(f"longitudinal model not fitted: {exc}")
        self.curves = fit_growth_curves(self.prep, groups)
        return self

    def response(self, *, tgi_day: float | None = None, min_time: float = 10.0, fallback: bool = False) -> ResponseResult:
        """TGI, T/C, AUC, best (average) response and mRECIST; see :mod:`sensitize.invivo.response`."""
        return compute_response(self.prep, self.groups, self.control, tgi_day, min_time, fallback)

    def cross_sectional(self, day: float | None = None, p_adjust: str = "holm") -> Result:
        """Group comparison at ``day`` (default: the TGI day)."""
        if day is None:
            day = default_tgi_day(self.prep, self.control)
        return cross_sectional(self.prep, self.groups, day, p_adjust)

    def synergy(self, *, drug_a: str, drug_b: str, combination: str, control: str | None = None,
                drug_c: str | None = None, methods: Sequence[str] = ("Bliss", "HSA", "RA"),
                robust: bool = True, time_resolved: bool = True, ra_nsim: int = 1000,
                bootstrap: bool = True, n_boot: int = 1000, seed: int = 0,
                tgi_variable: str = "delta", time_end: float | None = None) -> SynergyResult:
        """Mixed-model synergy over time plus bootstrap TGI- and AUC-based synergy.

        The returned table stacks the three bases (column ``basis``: ``lmm``, ``tgi``,
        ``auc``); ``estimates`` holds the time-resolved growth rates.
        """
        control = control if control is not None else self.control
        if control is None:
            raise InputError("no control arm: pass control=", file=self.source, column=GROUP)
        for name in (drug_a, drug_b, combination, control, drug_c):
            if name is not None and name not in self.groups:
                raise InputError(f"{name!r} is not a group (groups: {', '.join(self.groups)})",
                                 file=self.source, column=GROUP)
        singles = [drug_a, drug_b] + ([drug_c] if drug_c else [])
        res = lmm_synergy(self.prep, control, singles, combination, methods=methods, robust=robust,
                          time_resolved=time_resolved, ra_nsim=ra_nsim, seed=seed, time_end=time_end)
        tables = [res.table]
        if bootstrap:
            last = res.table["time"].max() if len(res.table) else None
            times = sorted(res.table["time"].unique()) if time_resolved else ([last] if last is not None else None)
            tgi_ref = default_tgi_day(self.prep, control) - self.time_start
            for basis in ("tgi", "auc"):
                btimes = times if (time_resolved or basis == "auc") else [tgi_ref]
                try:
                    b = bootstrap_synergy(self.prep, control, singles, combination, basis=basis, times=btimes,
                                          tgi_variable=tgi_variable, methods=methods, n_boot=n_boot, seed=seed,
                                          auc_time_end=time_end)
                    tables.append(b.table)
                except ValueError as exc:
                    self.notes.append(f"{basis} bootstrap synergy not computed: {exc}")
        table = pd.concat([t for t in tables if len(t)], ignore_index=True) if any(len(t) for t in tables) \
            else pd.DataFrame(columns=SYNERGY_COLUMNS)
        table["day"] = table["time"] + self.time_start
        res.table = table
        res.params.update({"bootstrap": bootstrap, "n_boot": n_boot, "tgi_variable": tgi_variable})
        return res

    def survival(self, *, endpoint: float | None = None, p_adjust: str = "holm") -> SurvivalResult:
        """Kaplan-Meier, log-rank, Cox and complete regressions; see :mod:`sensitize.invivo.survival`."""
        return survival_analysis(self.data, self.groups, self.control, endpoint, self.time_start, p_adjust)


@dataclass
class InvivoAnalysis:
    """Everything :func:`analyze` computed, ready to be written and plotted."""

    study: GrowthStudy
    arms: Arms | None
    response: ResponseResult
    survival: SurvivalResult | None
    synergy: SynergyResult | None
    cross_sectional: Result | None
    notes: list[str] = field(default_factory=list)

    def growth_rates_table(self) -> pd.DataFrame:
        """``group, rate, se`` (+ CI, doubling time) from the exponential mixed model."""
        gr = self.study.growth_rates
        if gr is None:
            return pd.DataFrame(columns=[GROUP, "rate", "se"])
        return gr.table.copy()

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every output table by file stem."""
        s = self.study
        out: dict[str, pd.DataFrame] = {"growth_rates": self.growth_rates_table()}
        if s.growth_rates is not None:
            out["variance_components"] = pd.DataFrame([{"sd_ranef": s.growth_rates.sd_ranef,
                                                        "sd_resid": s.growth_rates.sd_resid,
                                                        "n_obs": len(s.growth_rates.data)}])
        out["response"] = self.response.table
        out["response_groups"] = self.response.groups
        syn = self.synergy.table if self.synergy is not None else pd.DataFrame(columns=SYNERGY_COLUMNS)
        out["synergy"] = syn
        if self.synergy is not None:
            out["synergy_rates_over_time"] = self.synergy.estimates
        if s.longitudinal is not None:
            out["pairwise_slopes"] = s.longitudinal.table
            out["random_effects_selection"] = s.longitudinal.random_selection
            gt: dict[str, object] = dict(s.longitudinal.global_test)
            gt["random"] = s.longitudinal.params.get("random")
            out["global_test"] = pd.DataFrame([gt])
        if s.curves is not None:
            out["growth_curves"] = s.curves.table
        if s.diagnostics is not None:
            out["diagnostics"] = pd.DataFrame([s.diagnostics.params])
        if self.cross_sectional is not None:
            out["cross_sectional"] = self.cross_sectional.table
        if self.survival is not None:
            sv = self.survival
            out["survival_times"] = sv.table
            out["survival_medians"] = sv.medians
            out["logrank_pairwise"] = sv.logrank_pairwise
            out["logrank_global"] = pd.DataFrame([sv.logrank_global]) if sv.logrank_global else pd.DataFrame()
            out["cox"] = sv.cox
            out["regressions"] = sv.regressions
            out["kaplan_meier"] = sv.km
        out["flags"] = s.flags.flags
        excl = s.data.attrs.get("excluded")
        if excl is not None:
            out["excluded_input"] = pd.DataFrame(list(excl), columns=["source_row", "animal", "group", "day",
                                                                      "value", "reason"])
        return out


def analyze(df: pd.DataFrame, *, control: str | None = None, drug_a: str | None = None,
            drug_b: str | None = None, combination: str | None = None, time_start: float | None = None,
            endpoint: float | None = None, tgi_day: float | None = None, n_boot: int = 1000,
            ra_nsim: int = 1000, seed: int = 0, robust: bool = True, time_resolved: bool = True) -> InvivoAnalysis:
    """Analyse a study completely: growth, response, synergy (when the design allows), survival.

    Parameters
    ----------
    df
        Tidy study table.
    control, drug_a, drug_b, combination
        Arm roles; detected from the group names when unambiguous (see :func:`detect_arms`).
    time_start
        Treatment start day (default first day).
    endpoint
        Endpoint volume for time-to-endpoint (None: last-measurement convention).
    tgi_day
        Day for TGI/T-C and the cross-sectional comparison.
    n_boot, ra_nsim, seed
        Bootstrap draws, RA simulation draws, seed.
    robust, time_resolved
        Mixed-model synergy options.
    """
    source = str(df.attrs.get("source", "study table"))
    groups = groups_in_order(df) if GROUP in df.columns else []
    arms, why = (None, "")
    if GROUP in df.columns:
        arms, why = detect_arms(groups, control, drug_a, drug_b, combination, source=source)
    study = GrowthStudy(df, control=control if control is not None else (arms.control if arms else None),
                        time_start=time_start).fit()
    notes = [why] if why else []
    response = study.response(tgi_day=tgi_day)
    synergy = None
    if arms is not None:
        try:
            synergy = study.synergy(drug_a=arms.drug_a, drug_b=arms.drug_b, combination=arms.combination,
                                    control=arms.control, drug_c=arms.drug_c, robust=robust,
                                    time_resolved=time_resolved, ra_nsim=ra_nsim, n_boot=n_boot, seed=seed)
        except (ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"synergy not computed: {exc}")
    survival = None
    try:
        survival = study.survival(endpoint=endpoint)
    except (ValueError, np.linalg.LinAlgError) as exc:
        notes.append(f"survival not computed: {exc}")
    cs = None
    try:
        cs = study.cross_sectional(tgi_day)
    except ValueError as exc:
        notes.append(f"cross-sectional comparison not computed: {exc}")
    notes.extend(study.notes)
    return InvivoAnalysis(study=study, arms=arms, response=response, survival=survival, synergy=synergy,
                          cross_sectional=cs, notes=notes)


__all__ = ["Arms", "GrowthStudy", "InvivoAnalysis", "analyze", "detect_arms", "detect_control"]
