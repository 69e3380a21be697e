"""Cohort data: an expression matrix joined to a clinical table.

A :class:`Cohort` holds

* ``expression`` — genes x samples, float, on a stated scale (``unit``), gene symbols as
  the index (Ensembl versions stripped, ``SYMBOL|ID`` split, duplicates resolved by a
  stated policy);
* ``clinical`` — one row per analysed sample, indexed by sample ID (string);
* ``endpoints`` — survival endpoints (time, 0/1 event) detected by convention or named;
* ``response`` — a 1 (responder) / 0 (non-responder) / NaN label under a stated rule;
* ``report`` — everything that was detected, converted, flagged or excluded.

Nothing is dropped silently: samples present in only one table, rows with a missing
time/event, response labels outside the rule and duplicated genes are listed in
``report``.  Bad input raises :class:`sensitize.core.errors.InputError` naming the file,
the column and the 1-based data rows.

Conventions
-----------
Endpoint columns are found from their names: a column whose name contains the endpoint
token (``os``, ``pfs``, ``dfs``, ``rfs``, ``efs``, ``dss``, ``dmfs``, ``drfs``, ``mfs``,
``ttp``) together with a time word (``time``, ``months``, ``days``, ``survival``...) or
alone is the time; together with an event word (``event``, ``status``, ``censor``,
``dead``...) it is the event.  ``survival_time_os``/``event_occurred_os``,
``OS.time``/``OS.event``, ``os_days``/``os_status``, ``OS_MONTHS``/``OS_STATUS``,
``DFS.month``/``DFS.status`` and ``os``/``censOS`` are all recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError

ENDPOINT_TOKENS: tuple[str, ...] = (
    "os", "pfs", "dfs", "rfs", "efs", "dss", "dmfs", "drfs", "mfs", "ttp", "css", "bcr",
)
_TIME_WORDS = {
    "time", "times", "months", "month", "mo", "mos", "mths", "days", "day", "d", "weeks",
    "week", "wk", "wks", "years", "year", "yr", "yrs", "survival", "t", "duration", "dur",
    "follow", "fu",
}
_EVENT_WORDS = {
    "event", "events", "status", "stat", "censor", "cens", "censored", "censoring", "dead",
    "death", "died", "occurred", "flag", "sor", "e", "ind", "indicator", "evt", "progressed",
    "progression", "relapse", "recurrence", "vital",
}
_CENSOR_FLAG_WORDS = {"censored", "censoring", "sor", "iscensored"}
_UNIT_WORDS = {
    "days": "days", "day": "days", "d": "days",
    "months": "months", "month": "months", "mo": "months", "mos": "months", "mths": "months",
    "weeks": "weeks", "week": "weeks", "wk": "weeks", "wks": "weeks",
    "years": "years", "year": "years", "yr": "years", "yrs": "years",
}
#: days per unit, for converting survival times
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}

_EVENT_TRUE = {
    "1", "1.0", "true", "t", "yes", "y", "dead", "deceased", "died", "death", "event",
    "progressed", "progression", "relapse", "relapsed", "recurred", "recurrence", "pd",
    "dod", "dead of disease", "died of disease", "progressive disease", "metastasis",
}
_EVENT_FALSE = {
    "0", "0.0", "false", "f", "no", "n", "alive", "living", "censored", "censor", "no event",
    "event free", "event-free", "disease free", "diseasefree", "ned", "progression free",
    "progressionfree", "not progressed", "no progression", "alive with disease", "awd",
    "no evidence of disease",
}
_MISSING_TOKENS = {
    "", "na", "nan", "n/a", "none", "null", "unknown", "unk", "ne", "nd", "not evaluable",
    "notevaluable", "not evaluated", "notevaluated", "inevaluable", "not available", "-", ".",
    "missing", "nr/ne", "?",
}

# response vocabulary (normalised: upper case, letters and digits only)
_RECIST = {
    "CR": "CR", "COMPLETERESPONSE": "CR", "COMPLETE": "CR",
    "PR": "PR", "PARTIALRESPONSE": "PR", "PARTIAL": "PR",
    "SD": "SD", "STABLEDISEASE": "SD", "STABLE": "SD",
    "PD": "PD", "PROGRESSIVEDISEASE": "PD", "PROGRESSION": "PD", "PROGRESSIVE": "PD",
    "CRPR": "CRPR", "PRCR": "CRPR", "ORR": "CRPR", "OR": "CRPR", "OBJECTIVERESPONSE": "CRPR",
    "SDPD": "SDPD", "PDSD": "SDPD",
}
_BINARY_R = {
    "R", "RESPONDER", "RESPONDERS", "RESPONSE", "RESPONDED", "YES", "Y", "TRUE", "1", "10",
    "CB", "DCB", "BENEFIT", "CLINICALBENEFIT", "DURABLECLINICALBENEFIT", "POSITIVE", "POS",
}
_BINARY_NR = {
    "NR", "NONRESPONDER", "NONRESPONDERS", "NONRESPONSE", "NORESPONSE", "NO", "N", "FALSE",
    "0", "00", "NCB", "NDB", "NOBENEFIT", "NOCLINICALBENEFIT", "NODCB", "PROGRESSOR",
    "NONDURABLEBENEFIT", "NEGATIVE", "NEG",
}
_RESPONSE_MISSING = {"NE", "NA", "NAN", "", "UNKNOWN", "UNK", "NOTEVALUABLE", "NOTEVALUATED",
                     "ND", "NONE", "NULL", "INEVALUABLE", "NOTAVAILABLE", "MISSING"}

#: responder rules: which RECIST best overall responses count as responders
RESPONSE_RULES: dict[str, dict[str, int]] = {
    # objective response: CR/PR vs SD/PD (RECIST 1.1; Eisenhauer 2009)
    "orr": {"CR": 1, "PR": 1, "CRPR": 1, "SD": 0, "PD": 0, "SDPD": 0},
    # clinical benefit: CR/PR/SD vs PD
    "cb": {"CR": 1, "PR": 1, "CRPR": 1, "SD": 1, "PD": 0},
    # binary labels only (R/NR, responder/non-responder, yes/no, 1/0)
    "label": {},
}

_RESPONSE_BINARY_COLS = (
    "response", "responder", "responders", "binaryresponse", "bor_binary", "response_binary",
    "binary_response", "responder_status", "response_status", "clinical_benefit", "benefit",
    "dcb", "orr", "objective_response", "resp",
)
_RESPONSE_RECIST_COLS = (
    "recist", "bor", "best_overall_response", "best_response", "best.confirmed.overall.response",
    "best_confirmed_overall_response", "bestresponse", "response_recist", "recist_response",
    "mybor", "irecist",
)
_SAMPLE_COL_NAMES = (
    "sample", "sample_id", "sampleid", "sample.id", "samples", "id", "patient", "patient_id",
    "patientid", "subject", "subject_id", "run", "barcode",
)


def _tokens(name: object) -> list[str]:
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(name))
    return [t for t in re.split(r"[^a-z0-9]+", s.lower()) if t]


def _norm_label(v: object) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(v).strip().upper())


def _rows_of(positions: Iterable[int]) -> list[int]:
    return [int(p) + 1 for p in positions]


@dataclass
class Endpoint:
    """A survival endpoint of a cohort.

    Attributes
    ----------
    name
        Endpoint name (``os``, ``pfs``, ...).
    time, event
        Aligned to the cohort's samples; ``event`` is 1.0 (event), 0.0 (censored) or NaN.
    time_col, event_col
        The clinical columns they came from.
    unit
        Time unit (``days``, ``months``, ``weeks``, ``years`` or ``unknown``).
    event_coding
        ``"event"`` (1 = event) or ``"censor"`` (1 = censored, inverted on reading).
    """

    name: str
    time: pd.Series
    event: pd.Series
    time_col: str
    event_col: str
    unit: str = "unknown"
    event_coding: str = "event"
    notes: list[str] = field(default_factory=list)

    def complete(self) -> pd.Series:
        """Boolean mask of samples with both time and event known."""
        return self.time.notna() & self.event.notna()

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary: columns, unit, coding, n and events."""
        ok = self.complete()
        return {
            "time_col": self.time_col,
            "event_col": self.event_col,
            "unit": self.unit,
            "event_coding": self.event_coding,
            "n": int(ok.sum()),
            "events": int(self.event[ok].sum()),
            "n_missing": int((~ok).sum()),
            "missing_samples": [str(s) for s in self.time.index[~ok]],
            "notes": list(self.notes),
        }


@dataclass
class ResponseLabels:
    """Binary response labels of a cohort under a stated rule.

    ``labels`` is 1.0 (responder), 0.0 (non-responder) or NaN (not evaluable, missing, or a
    label outside the rule — those are listed in ``unmapped``).
    """

    labels: pd.Series
    column: str
    rule: str
    mapping: dict[str, float]
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    raw: pd.Series | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary of the labels."""
        lab = self.labels
        return {
            "column": self.column,
            "rule": self.rule,
            "n_responders": int((lab == 1).sum()),
            "n_nonresponders": int((lab == 0).sum()),
            "n_missing": int(lab.isna().sum()),
            "mapping": {str(k): (None if np.isnan(v) else int(v)) for k, v in self.mapping.items()},
            "labels_outside_rule": {k: v for k, v in self.unmapped.items()},
        }


@dataclass
class Cohort:
    """Expression joined to clinical data (see the module docstring)."""

    expression: pd.DataFrame
    clinical: pd.DataFrame
    unit: str
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    response: ResponseLabels | None = None
    name: str = "cohort"
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> pd.Index:
        """Analysed sample IDs (expression columns, clinical index)."""
        return self.clinical.index

    def has_gene(self, gene: str) -> bool:
        """Whether the expression matrix has ``gene`` (exact symbol)."""
        return gene in self.expression.index

    def feature(self, name: str) -> pd.Series:
        """Values of a biomarker: a gene (exact, then case-insensitive) or a numeric clinical column.

        Raises
        ------
        InputError
            If ``name`` is neither a gene nor a numeric clinical column.
        """
        if name in self.expression.index:
            return pd.Series(self.expression.loc[name].astype(float), name=name)
        upper = {str(g).upper(): g for g in self.expression.index}
        if name.upper() in upper:
            return pd.Series(self.expression.loc[upper[name.upper()]].astype(float), name=name)
        if name in self.clinical.columns:
            vals = pd.to_numeric(self.clinical[name], errors="coerce")
            bad = self.clinical[name].notna() & vals.isna()
            if bad.any():
                raise InputError(
                    f"biomarker {name!r} is a clinical column with non-numeric values",
                    file=self.report.get("clinical_file"), column=name,
                    rows=self._clinical_rows(bad),
                )
            return vals.astype(float).rename(name)
        raise InputError(
            f"biomarker {name!r} is neither a gene of the expression matrix nor a clinical column",
            file=self.report.get("expression_file"),
        )

    def _clinical_rows(self, mask: pd.Series) -> list[int]:
        if "_row" in self.clinical.columns:
            return [int(r) for r in self.clinical.loc[mask[mask].index, "_row"]]
        return _rows_of(np.flatnonzero(mask.to_numpy()))

    def subset(self, samples: Sequence[str]) -> Cohort:
        """A cohort restricted to ``samples`` (order kept); endpoints and labels follow."""
        idx = pd.Index([str(s) for s in samples])
        eps = {
            k: Endpoint(e.name, e.time.loc[idx], e.event.loc[idx], e.time_col, e.event_col, e.unit,
                        e.event_coding, list(e.notes))
            for k, e in self.endpoints.items()
        }
        resp = None
        if self.response is not None:
            r = self.response
            resp = ResponseLabels(r.labels.loc[idx], r.column, r.rule, dict(r.mapping),
                                  dict(r.unmapped), None if r.raw is None else r.raw.loc[idx])
        return Cohort(self.expression.loc[:, idx], self.clinical.loc[idx], self.unit, eps, resp,
                      self.name, dict(self.report))


# ----------------------------------------------------------------------------- genes


def clean_gene_ids(index: pd.Index) -> tuple[pd.Index, list[str]]:
    """Normalise gene identifiers: strip blanks, Ensembl versions and ``SYMBOL|ID`` suffixes.

    Returns the new index and notes on what was changed.
    """
    ids = pd.Index([str(g).strip() for g in index])
    notes: list[str] = []
    if len(ids) and np.mean([bool(re.match(r"^ENS[A-Z]*G\d+\.\d+$", g)) for g in ids]) > 0.5:
        ids = pd.Index([re.sub(r"^(ENS[A-Z]*G\d+)\.\d+$", r"\1", g) for g in ids])
        notes.append("Ensembl gene versions stripped")
    if len(ids) and np.mean(["|" in g for g in ids]) > 0.5:
        def first(g: str) -> str:
            parts = g.split("|")
            return parts[0] if parts[0] not in ("?", "") else g
        ids = pd.Index([first(g) for g in ids])
        notes.append("'SYMBOL|ID' identifiers reduced to SYMBOL")
    return ids, notes


DuplicatePolicy = Literal["mean", "max_mean", "first", "error"]


def resolve_duplicate_genes(
    expr: pd.DataFrame, policy: DuplicatePolicy = "mean", file: str | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Resolve duplicated gene symbols by a stated policy.

    Parameters
    ----------
    policy
        ``"mean"`` averages the rows, ``"max_mean"`` keeps the row with the highest mean
        (WGCNA ``collapseRows`` MaxMean), ``"first"`` keeps the first, ``"error"`` raises.

    Returns
    -------
    The de-duplicated matrix and ``{symbol: number of rows}`` for every duplicated symbol.
    """
    dup_mask = expr.index.duplicated(keep=False)
    if not dup_mask.any():
        return expr, {}
    counts = pd.Series(expr.index[dup_mask]).value_counts()
    dups = {str(k): int(v) for k, v in counts.items()}
    if policy == "error":
        raise InputError(
            f"{len(dups)} duplicated gene symbols (e.g. {', '.join(list(dups)[:5])}); choose a "
            "duplicate policy (mean, max_mean, first)",
            file=file, rows=_rows_of(np.flatnonzero(dup_mask)),
        )
    if policy == "first":
        out = expr[~expr.index.duplicated(keep="first")]
    elif policy == "max_mean":
        m = expr.mean(axis=1).to_numpy()
        order = np.argsort(-np.nan_to_num(m, nan=-np.inf), kind="stable")
        tmp = expr.iloc[order]
        tmp = tmp[~tmp.index.duplicated(keep="first")]
        out = tmp.loc[expr.index.unique()]
    elif policy == "mean":
        out = expr.groupby(level=0, sort=False).mean()
    else:
        raise InputError(f"unknown duplicate policy {policy!r}")
    return out, dups


def detect_scale(expr: pd.DataFrame) -> dict[str, Any]:
    """Guess the scale of an expression matrix.

    Returns a dict with ``kind`` (``counts``, ``linear``, ``log2_floor`` or ``log``),
    ``pseudocount`` (for ``log2_floor``: 2**min, the floor shared by many entries, e.g.
    0.001 for log2(TPM+0.001)) and a human-readable ``note``.
    """
    vals = expr.to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    if finite.size == 0:
        return {"kind": "log", "pseudocount": None, "note": "no finite values"}
    vmin, vmax = float(finite.min()), float(finite.max())
    if vmin >= 0 and vmax > 100:
        if np.allclose(finite, np.round(finite)):
            return {"kind": "counts", "pseudocount": None,
                    "note": f"non-negative integers up to {vmax:g}: read as counts"}
        return {"kind": "linear", "pseudocount": None,
                "note": f"non-negative values up to {vmax:g}: read as linear (TPM/FPKM-like)"}
    at_min = np.isclose(vals, vmin, atol=1e-6)
    frac = float(at_min.sum()) / finite.size
    n_cols = int(at_min.any(axis=0).sum())
    if vmin < 0 and frac >= 0.005 and n_cols > 1:
        pc = float(2.0 ** vmin)
        snapped = float(f"{pc:.1g}")
        if abs(snapped - pc) / pc < 5e-3:
            pc = snapped
        return {"kind": "log2_floor", "pseudocount": pc,
                "note": f"log2 values with a shared floor {vmin:g} (= log2({pc:g})): "
                        f"read as log2(x + {pc:g})"}
    return {"kind": "log", "pseudocount": None,
            "note": f"values in [{vmin:.3g}, {vmax:.3g}]: read as log2 scale"}


ScaleMode = Literal["auto", "as-is", "log2p1"]


def _log2p1(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(np.log2(df.to_numpy(dtype=float) + 1.0), index=df.index, columns=df.columns)


def harmonise_scale(
    expr: pd.DataFrame, mode: ScaleMode = "auto", unit: str | None = None
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Put expression on a log2 scale suitable for single-sample scores.

    ``auto``: counts -> log2(CPM + 1); linear -> log2(x + 1); log2(x + c) with a small
    shared floor c < 1 (e.g. PredictioR's log2(TPM + 0.001)) -> log2(x + 1) =
    log2(2**v - c + 1) (so that the low tail does not dominate per-unit effects); any
    other log scale is kept.  ``as-is`` keeps the values.  ``log2p1`` forces the
    linear -> log2(x + 1) transform.

    Returns the matrix, the unit string and the detection record.
    """
    info = detect_scale(expr)
    info["mode"] = mode
    label = unit or ""
    if mode == "as-is":
        return expr, unit or f"as provided ({info['kind']})", info
    if mode == "log2p1":
        return _log2p1(expr.clip(lower=0)), f"log2({label or 'x'} + 1)", info
    kind = info["kind"]
    if kind == "counts":
        lib = expr.sum(axis=0)
        cpm = expr.div(lib.where(lib > 0), axis=1) * 1e6
        return _log2p1(cpm), "log2(CPM + 1) from counts", info
    if kind == "linear":
        return _log2p1(expr.clip(lower=0)), f"log2({label or 'x'} + 1)", info
    if kind == "log2_floor" and info["pseudocount"] is not None and info["pseudocount"] < 1:
        pc = float(info["pseudocount"])
        lin = pd.DataFrame(np.power(2.0, expr.to_numpy(dtype=float)) - pc, index=expr.index,
                           columns=expr.columns)
        out = _log2p1(lin.clip(lower=0))
        base = label.replace("log2", "").strip("() ") if label else "x"
        if "+" in base:
            base = base.split("+")[0].strip()
        return out, f"log2({base or 'x'} + 1) (converted from log2(x + {pc:g}))", info
    return expr, unit or "log2 (as provided)", info


# ----------------------------------------------------------------------------- events


def parse_event(
    values: pd.Series,
    coding: Literal["auto", "event", "censor"] = "auto",
    *,
    column: str | None = None,
    file: str | None = None,
    rows: Sequence[int] | None = None,
) -> pd.Series:
    """Parse an event column into 1.0 (event) / 0.0 (censored) / NaN.

    Accepts 0/1, booleans, ``TRUE/FALSE``, ``yes/no``, ``dead/alive``, ``deceased/living``,
    ``event/censored`` and cBioPortal's ``1:DECEASED``/``0:LIVING``.  ``coding="censor"``
    means the column is a censoring flag (1 = censored) and is inverted.

    Raises
    ------
    InputError
        For values that are not recognisable 0/1 codes (e.g. R's 1/2 coding), with rows.
    """
    row_nums = list(rows) if rows is not None else _rows_of(range(len(values)))
    out = np.full(len(values), np.nan)
    bad: list[int] = []
    bad_vals: set[str] = set()
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, bool | np.bool_):
            out[i] = float(v)
            continue
        if isinstance(v, int | float | np.integer | np.floating):
            if v in (0, 1):
                out[i] = float(v)
            else:
                bad.append(row_nums[i])
                bad_vals.add(str(v))
            continue
        s = str(v).strip().lower()
        m = re.match(r"^([01])\s*:", s)
        if m:
            out[i] = float(m.group(1))
        elif s in _EVENT_TRUE:
            out[i] = 1.0
        elif s in _EVENT_FALSE:
            out[i] = 0.0
        elif s in _MISSING_TOKENS:
            continue
        else:
            bad.append(row_nums[i])
            bad_vals.add(str(v))
    if bad:
        hint = ""
        if bad_vals <= {"2", "2.0", "1", "1.0"}:
            hint = " (R's 1 = censored / 2 = event coding? recode to 0/1)"
        raise InputError(
            f"event values must be 0/1 (or dead/alive, TRUE/FALSE, ...); found "
            f"{', '.join(sorted(bad_vals)[:6])}{hint}",
            file=file, column=column, rows=bad,
        )
    if coding == "censor":
        out = np.where(np.isnan(out), np.nan, 1.0 - out)
    return pd.Series(out, index=values.index, name=values.name, dtype=float)


def _is_event_like(s: pd.Series) -> bool:
    try:
        ev = parse_event(s)
    except InputError:
        return False
    return bool(ev.notna().sum() >= 2)


def _is_time_like(s: pd.Series) -> bool:
    v = pd.to_numeric(s, errors="coerce")
    if v.notna().sum() < 3:
        return False
    # mostly numeric, more than two distinct values
    return bool(v.notna().sum() >= 0.5 * s.notna().sum() and v.nunique() > 2)


def detect_endpoints(clinical: pd.DataFrame) -> tuple[dict[str, tuple[str, str]], dict[str, Any]]:
    """Find survival endpoint columns by naming convention.

    Returns ``{endpoint: (time_col, event_col)}`` and a record with every candidate and
    the reason for the choice.
    """
    found: dict[str, tuple[str, str]] = {}
    record: dict[str, Any] = {}
    cols = [c for c in clinical.columns if c != "_row"]
    for ep in ENDPOINT_TOKENS:
        times: list[str] = []
        events: list[str] = []
        for c in cols:
            toks = _tokens(c)
            joined = "".join(toks)
            has_ep = ep in toks or any(t in (f"cens{ep}", f"{ep}cens", f"{ep}event", f"{ep}status")
                                       for t in toks)
            if not has_ep:
                continue
            other = set(toks) - {ep}
            evt = bool(other & _EVENT_WORDS) or joined.startswith("cens") or joined.endswith("cens")
            tim = bool(other & _TIME_WORDS) or toks == [ep] or (not other)
            if evt and (_is_event_like(clinical[c]) or clinical[c].nunique(dropna=True) <= 5):
                # a badly coded event column is still chosen, so that parsing reports its rows
                events.append(str(c))
            elif tim and not evt and _is_time_like(clinical[c]):
                times.append(str(c))
            elif tim and not evt and _is_event_like(clinical[c]):
                events.append(str(c))
        if times and events:
            # prefer the most explicit names: those that say "time"/"event"
            def tscore(c: str) -> tuple[int, int]:
                toks = set(_tokens(c))
                return (int(bool(toks & {"time", "survival"})), int(bool(toks & set(_UNIT_WORDS))))

            def escore(c: str) -> tuple[int, int]:
                toks = set(_tokens(c))
                return (int(bool(toks & {"event", "occurred", "status"})),
                        -int(bool(toks & _CENSOR_FLAG_WORDS)))

            t = sorted(times, key=tscore, reverse=True)[0]
            e = sorted(events, key=escore, reverse=True)[0]
            found[ep] = (t, e)
            record[ep] = {"time_candidates": times, "event_candidates": events,
                          "chosen": [t, e]}
        elif times or events:
            record[ep] = {"time_candidates": times, "event_candidates": events,
                          "chosen": None, "note": "incomplete: need both a time and an event column"}
    return found, record


def time_unit_from(column: str, clinical: pd.DataFrame) -> str:
    """Time unit from the column name (``os_days``) or a ``survival_unit``-like column."""
    for t in _tokens(column):
        if t in _UNIT_WORDS:
            return _UNIT_WORDS[t]
    for c in clinical.columns:
        if _tokens(c) in (["survival", "unit"], ["time", "unit"], ["unit"], ["survival", "units"]):
            vals = clinical[c].dropna().astype(str).str.strip().str.lower().unique()
            if len(vals) == 1:
                for t in _tokens(vals[0]):
                    if t in _UNIT_WORDS:
                        return _UNIT_WORDS[t]
    return "unknown"


def event_coding_from(column: str) -> str:
    """``"censor"`` when the column name marks a censoring flag (``censored``, ``*_SOR``)."""
    toks = set(_tokens(column))
    return "censor" if toks & _CENSOR_FLAG_WORDS else "event"


# ----------------------------------------------------------------------------- response


def parse_response(
    values: pd.Series,
    rule: str = "orr",
    *,
    responder_labels: Sequence[str] | None = None,
    nonresponder_labels: Sequence[str] | None = None,
    on_unknown: Literal["flag", "error"] = "flag",
    column: str | None = None,
    file: str | None = None,
    rows: Sequence[int] | None = None,
) -> ResponseLabels:
    """Map response labels to 1 (responder) / 0 (non-responder) / NaN under a stated rule.

    Parameters
    ----------
    rule
        ``"orr"``: CR/PR responders, SD/PD non-responders (RECIST 1.1 objective
        response); ``"cb"``: CR/PR/SD responders, PD non-responders (clinical benefit);
        ``"label"``: only binary labels accepted.  Binary labels (R/NR,
        Responder/Non-responder, yes/no, 1/0, TRUE/FALSE, CB/NCB) are taken as given
        under every rule.
    responder_labels, nonresponder_labels
        Explicit labels (case-insensitive), overriding the vocabulary, e.g. ``["yes"]``
        and ``["no"]`` for a metastasis column.
    on_unknown
        ``"flag"``: labels outside the rule become NaN and are listed in ``unmapped``;
        ``"error"``: raise :class:`InputError` with their rows.
    """
    if rule not in RESPONSE_RULES:
        raise InputError(f"unknown response rule {rule!r}; use one of {', '.join(RESPONSE_RULES)}")
    row_nums = list(rows) if rows is not None else _rows_of(range(len(values)))
    explicit: dict[str, float] = {}
    for lab in responder_labels or ():
        explicit[_norm_label(lab)] = 1.0
    for lab in nonresponder_labels or ():
        explicit[_norm_label(lab)] = 0.0
    out = np.full(len(values), np.nan)
    mapping: dict[str, float] = {}
    unmapped: dict[str, list[str]] = {}
    bad_rows: list[int] = []
    rule_map = RESPONSE_RULES[rule]
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        raw = str(v).strip()
        key = _norm_label(raw)
        val: float | None = None
        if explicit:
            val = explicit.get(key)
        elif key in _BINARY_R:
            val = 1.0
        elif key in _BINARY_NR:
            val = 0.0
        elif key in _RECIST and _RECIST[key] in rule_map:
            val = float(rule_map[_RECIST[key]])
        if val is None:
            if key in _RESPONSE_MISSING and not explicit:
                mapping[raw] = np.nan
                continue
            unmapped.setdefault(raw, []).append(str(values.index[i]))
            bad_rows.append(row_nums[i])
            continue
        mapping[raw] = val
        out[i] = val
    if bad_rows and on_unknown == "error":
        raise InputError(
            f"response labels outside the rule {rule!r}: {', '.join(sorted(unmapped))}",
            file=file, column=column, rows=bad_rows,
        )
    labels = pd.Series(out, index=values.index, name="responder", dtype=float)
    return ResponseLabels(labels, column or str(values.name), rule, mapping, unmapped, values)


def detect_response_column(clinical: pd.DataFrame) -> tuple[str | None, str]:
    """Find the response column: a binary label column first, then a RECIST column.

    Returns the column (or ``None``) and why it was chosen.
    """
    norm = {str(c): re.sub(r"[^a-z0-9_.]", "", str(c).lower()) for c in clinical.columns}

    def usable(c: str, binary: bool) -> bool:
        vals = clinical[c].dropna()
        if len(vals) < 2:
            return False
        keys = {_norm_label(v if not (isinstance(v, float) and float(v).is_integer()) else int(v))
                for v in vals}
        known = keys & (_BINARY_R | _BINARY_NR | set(_RECIST) | _RESPONSE_MISSING)
        return len(known) >= 2 and len(known) >= 0.6 * len(keys) and (
            not binary or bool(keys & (_BINARY_R | _BINARY_NR))
        )

    for name in _RESPONSE_BINARY_COLS:
        for c, n in norm.items():
            if n == name and usable(c, binary=True):
                return c, f"binary response labels in column {c!r}"
    for name in _RESPONSE_RECIST_COLS:
        for c, n in norm.items():
            if n == name and usable(c, binary=False):
                return c, f"RECIST best overall response in column {c!r}"
    return None, "no response column found"


# ----------------------------------------------------------------------------- join


def _detect_sample_col(clinical: pd.DataFrame, expr_samples: set[str]) -> tuple[str | None, int]:
    scored: list[tuple[int, int, int, str | None]] = []
    candidates: list[str | None] = [None, *[str(c) for c in clinical.columns if c != "_row"]]
    for pos, c in enumerate(candidates):
        vals = clinical.index if c is None else clinical[c]
        ids = {str(v).strip() for v in vals if not pd.isna(v)}
        n = len(ids & expr_samples)
        key = "" if c is None else re.sub(r"[^a-z0-9_.]", "", c.lower())
        rank = _SAMPLE_COL_NAMES.index(key) if key in _SAMPLE_COL_NAMES else len(_SAMPLE_COL_NAMES)
        scored.append((n, -rank, -pos, c))
    n, _, _, col = max(scored, key=lambda r: r[:3])
    return (col, n) if n > 0 else (None, 0)


def build_cohort(
    expression: pd.DataFrame,
    clinical: pd.DataFrame,
    *,
    sample_col: str | None = None,
    endpoints: Mapping[str, tuple[str, str]] | None = None,
    event_coding: Mapping[str, str] | None = None,
    time_unit: Mapping[str, str] | str | None = None,
    detect: bool = True,
    response_col: str | None = None,
    response_rule: str = "orr",
    responder_labels: Sequence[str] | None = None,
    nonresponder_labels: Sequence[str] | None = None,
    on_unknown_response: Literal["flag", "error"] = "flag",
    duplicates: DuplicatePolicy = "mean",
    scale: ScaleMode = "auto",
    unit: str | None = None,
    strict_samples: bool = False,
    name: str = "cohort",
    expression_file: str | None = None,
    clinical_file: str | None = None,
) -> Cohort:
    """Join an expression matrix (genes x samples) to a clinical table.

    Parameters
    ----------
    expression
        Genes x samples (gene IDs as index).  A samples x genes matrix is detected from
        the sample IDs and transposed (reported).
    clinical
        One row per sample; the sample-ID column is ``sample_col`` or the column whose
        values best match the expression sample IDs.
    endpoints
        ``{name: (time_col, event_col)}``; merged over the ones detected by convention
        when ``detect`` is true.
    event_coding
        ``{endpoint: "event" | "censor"}``; default from the column name (``censored``,
        ``*_SOR`` mean 1 = censored), else 1 = event.
    time_unit
        Unit per endpoint (or one for all); default from the column name or a
        ``survival_unit`` column.
    response_col, response_rule, responder_labels, nonresponder_labels, on_unknown_response
        See :func:`parse_response`; the column is detected when not given.
    duplicates
        Policy for duplicated gene symbols (see :func:`resolve_duplicate_genes`).
    scale, unit
        See :func:`harmonise_scale`; ``unit`` states the input unit (e.g. ``"TPM"``).
    strict_samples
        Raise when sample IDs do not match one-to-one (default: report and analyse the
        intersection).

    Returns
    -------
    Cohort
        With ``report`` listing everything detected and every excluded sample.
    """
    report: dict[str, Any] = {"expression_file": expression_file, "clinical_file": clinical_file}
    if expression.shape[0] == 0 or expression.shape[1] == 0:
        raise InputError("the expression matrix is empty", file=expression_file)
    clin = clinical.copy()
    clin.columns = [str(c) for c in clin.columns]
    clin["_row"] = np.arange(1, len(clin) + 1)

    expr = expression.copy()
    expr.columns = [str(c).strip() for c in expr.columns]
    expr_samples = set(expr.columns)
    # orientation
    if sample_col is None:
        col, n_cols = _detect_sample_col(clin, expr_samples)
        col_t, n_rows = _detect_sample_col(clin, {str(i).strip() for i in expr.index})
        if n_rows > max(n_cols, 0):
            expr = expr.T
            expr.columns = [str(c).strip() for c in expr.columns]
            expr_samples = set(expr.columns)
            col, n_cols = col_t, n_rows
            report["transposed_expression"] = True
        if n_cols <= 0:
            raise InputError(
                "no sample ID of the clinical table matches a column of the expression matrix; "
                "name the sample column (sample_col / --sample-col)",
                file=clinical_file,
            )
        sample_col = col
    elif sample_col not in clin.columns:
        raise InputError(f"sample column {sample_col!r} not found", file=clinical_file,
                         column=sample_col)
    report["sample_col"] = sample_col if sample_col is not None else "<index>"
    ids = pd.Index([str(v).strip() for v in (clin.index if sample_col is None else clin[sample_col])])
    missing_id = ids.isin(["nan", "None", ""])
    if missing_id.any():
        raise InputError("missing sample IDs", file=clinical_file, column=sample_col,
                         rows=_rows_of(np.flatnonzero(missing_id)))
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise InputError(
            f"duplicated sample IDs: {', '.join(sorted(set(ids[dup]))[:5])}",
            file=clinical_file, column=sample_col, rows=_rows_of(np.flatnonzero(dup)),
        )
    clin.index = ids
    clin.index.name = "sample"
    dup_expr = pd.Index(expr.columns).duplicated(keep=False)
    if dup_expr.any():
        raise InputError(
            f"duplicated sample columns in the expression matrix: "
            f"{', '.join(sorted(set(np.asarray(expr.columns)[dup_expr]))[:5])}",
            file=expression_file,
        )

    # genes
    new_ids, gene_notes = clean_gene_ids(expr.index)
    expr.index = new_ids
    blank = expr.index.isin(["", "nan", "None"])
    if blank.any():
        report["genes_without_id"] = int(blank.sum())
        gene_notes.append(f"{int(blank.sum())} rows without a gene ID excluded")
        expr = expr[~blank]
    expr = expr.apply(pd.to_numeric, errors="coerce")
    expr, dups = resolve_duplicate_genes(expr, duplicates, expression_file)
    report["gene_id_notes"] = gene_notes
    report["duplicated_genes"] = {"policy": duplicates, "n": len(dups),
                                  "examples": dict(list(dups.items())[:20])}
    n_nan = int(expr.isna().to_numpy().sum())
    if n_nan:
        report["expression_missing_values"] = n_nan

    # samples
    in_both = [s for s in expr.columns if s in set(clin.index)]
    only_expr = [s for s in expr.columns if s not in set(clin.index)]
    only_clin = [s for s in clin.index if s not in set(expr.columns)]
    report["samples"] = {
        "n_expression": int(expr.shape[1]), "n_clinical": len(clin), "n_matched": len(in_both),
        "only_in_expression": only_expr, "only_in_clinical": only_clin,
    }
    if strict_samples and (only_expr or only_clin):
        raise InputError(
            f"sample IDs do not match: {len(only_expr)} only in the expression matrix "
            f"({', '.join(only_expr[:5])}), {len(only_clin)} only in the clinical table "
            f"({', '.join(only_clin[:5])})",
            file=clinical_file, column=sample_col,
            rows=[int(r) for r in clin.loc[only_clin, "_row"]],
        )
    if not in_both:
        raise InputError("no sample in common between expression and clinical tables",
                         file=clinical_file, column=sample_col)
    expr = expr.loc[:, in_both]
    clin = clin.loc[in_both]

    expr, unit_str, scale_info = harmonise_scale(expr, scale, unit)
    report["scale"] = {**scale_info, "unit": unit_str}

    # endpoints
    chosen: dict[str, tuple[str, str]] = {}
    if detect:
        det, det_record = detect_endpoints(clin)
        report["endpoint_detection"] = det_record
        chosen.update(det)
    for ep, cols in (endpoints or {}).items():
        chosen[ep.lower()] = (cols[0], cols[1])
    eps: dict[str, Endpoint] = {}
    rows_all = clin["_row"].to_numpy()
    for ep, (tcol, ecol) in chosen.items():
        for c in (tcol, ecol):
            if c not in clin.columns:
                raise InputError(f"endpoint {ep!r}: column {c!r} not found", file=clinical_file,
                                 column=c)
        coding = (event_coding or {}).get(ep) or event_coding_from(ecol)
        if coding not in ("event", "censor"):
            raise InputError(f"event coding for {ep!r} must be 'event' or 'censor', got {coding!r}")
        ev = parse_event(clin[ecol], coding,  # type: ignore[arg-type]
                         column=ecol, file=clinical_file, rows=list(rows_all))
        t = pd.to_numeric(clin[tcol], errors="coerce")
        nonnum = clin[tcol].notna() & t.isna() & ~clin[tcol].astype(str).str.strip().str.lower().isin(
            _MISSING_TOKENS)
        if nonnum.any():
            raise InputError(f"non-numeric survival times for {ep!r}", file=clinical_file,
                             column=tcol, rows=list(clin.loc[nonnum, "_row"]))
        neg = t < 0
        if neg.any():
            raise InputError(f"negative survival times for {ep!r}", file=clinical_file,
                             column=tcol, rows=list(clin.loc[neg, "_row"]))
        notes: list[str] = []
        zero = t == 0
        if zero.any():
            notes.append(
                f"{int(zero.sum())} samples with time 0 (rows "
                f"{', '.join(str(r) for r in clin.loc[zero, '_row'][:10])}); kept, check them"
            )
        if isinstance(time_unit, str):
            tu = time_unit
        elif isinstance(time_unit, Mapping) and ep in time_unit:
            tu = time_unit[ep]
        else:
            tu = time_unit_from(tcol, clin)
        if coding == "censor":
            notes.append(f"{ecol!r} read as a censoring flag (1 = censored), inverted to events")
        eps[ep] = Endpoint(ep, t.astype(float), ev, tcol, ecol, tu, coding, notes)
    report["endpoints"] = {k: e.describe() for k, e in eps.items()}

    # response
    resp: ResponseLabels | None = None
    rcol = response_col
    why = "named by the user"
    if rcol is None:
        rcol, why = detect_response_column(clin)
    elif rcol not in clin.columns:
        raise InputError(f"response column {rcol!r} not found", file=clinical_file, column=rcol)
    if rcol is not None:
        resp = parse_response(
            clin[rcol], response_rule, responder_labels=responder_labels,
            nonresponder_labels=nonresponder_labels, on_unknown=on_unknown_response,
            column=rcol, file=clinical_file, rows=list(rows_all),
        )
        report["response"] = {**resp.describe(), "why": why}
    else:
        report["response"] = {"column": None, "why": why}
    report["name"] = name
    return Cohort(expr.astype(float), clin, unit_str, eps, resp, name, report)
