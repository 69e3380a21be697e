"""Anchored combination screens: library-drug curves alone and on top of a fixed anchor.

In an *anchored* design (Jaaks et al., Nature 2022) an anchor drug is added at one to
three fixed concentrations to the dose series of each library drug.  For every library
drug x anchor concentration x readout this module fits

* the library drug's LL.4 curve alone (anchor concentration 0, vehicle wells as dose 0),
* its LL.4 curve in the presence of the anchor (the anchor-alone wells as dose 0),
* the **Bliss expectation curve**: the library-alone fitted effect combined with the
  observed anchor-alone effect, ``E_exp(d) = E_l(d) + E_a - E_l(d) E_a / 100`` on the
  % inhibition scale (viability readouts, ``inhibition = 100 - viability``).  For an
  induction readout on the log2 fold-change scale the same independence null is
  ``E_exp(d) = E_l(d) + E_a`` (multiplicative fold changes add on the log scale);
  ``induction_null="bliss"`` applies the Bliss formula instead (percent scales).

and reports ``delta_emax`` (observed combination effect at the top library dose minus
the Bliss-expected one, both from the fitted curves; > 0 = more effect than expected)
and ``ic50_shift`` (``log10 IC50_expected - log10 IC50_observed``; > 0 = the combination
is more potent than expected), with IC50 the LL.4 midpoint ``e`` of each curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.core.results import Result
from sensitize.screen.doseresponse import fit_ll4

_REQUIRED = ("block_id", "drug1", "conc1", "drug2", "conc2", "readout", "response", "response_kind")


def _as_table(screen: Any) -> pd.DataFrame:
    """Accept a DataFrame or any object with a ``.table`` DataFrame (``ScreenTable``)."""
    df = screen.table if hasattr(screen, "table") and isinstance(screen.table, pd.DataFrame) else screen
    if not isinstance(df, pd.DataFrame):
        raise TypeError("expected a screen table (DataFrame) or an object with a .table DataFrame")
    return df


def prepare_effects(screen: Any, source: str = "<table>") -> pd.DataFrame:
    """Screen table -> rows with ``combo`` key, ``effect`` (inhibition / induction) and doses.

    ``combo`` is the block id without its ``:<readout>`` suffix, so the viability and the
    chemokine blocks of one drug pair share it.  Only two-drug blocks are supported: a
    non-empty ``drug3`` column is an error.
    """
    df = _as_table(screen)
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"screen table lacks column(s) {missing}", file=source, column=missing[0])
    if "drug3" in df.columns and df["drug3"].notna().any():
        rows = (np.flatnonzero(df["drug3"].notna().to_numpy()) + 1).tolist()
        raise InputError("only two-drug (library x anchor) blocks are supported", file=source, column="drug3",
                         rows=rows)
    out = df.reset_index(drop=True).copy()
    for c in ("conc1", "conc2", "response"):
        v = pd.to_numeric(out[c], errors="coerce")
        bad = v.isna() & out[c].notna() | (c != "response") & v.isna()
        if bad.any():
            raise InputError(f"non-numeric or missing {c}", file=source, column=c,
                             rows=(np.flatnonzero(bad.to_numpy()) + 1).tolist())
        out[c] = v.astype(float)
    kinds = out["response_kind"].astype(str)
    bad_kind = ~kinds.isin(["viability", "inhibition", "induction"])
    if bad_kind.any():
        raise InputError("response_kind must be viability, inhibition or induction", file=source,
                         column="response_kind", rows=(np.flatnonzero(bad_kind.to_numpy()) + 1).tolist())
    out["effect"] = np.where(kinds == "viability", 100.0 - out["response"], out["response"])
    bid = out["block_id"].astype(str)
    suffix = ":" + out["readout"].astype(str)
    out["combo"] = [b[: -len(s)] if b.endswith(s) else b for b, s in zip(bid, suffix, strict=True)]
    if "cell_line" not in out.columns:
        out["cell_line"] = out["combo"].str.split(":").str[0]
    return out


def _pad(groups: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    m = max(len(x) for x, _ in groups)
    x = np.full((len(groups), m), np.nan)
    y = np.full((len(groups), m), np.nan)
    for i, (xi, yi) in enumerate(groups):
        x[i, : len(xi)] = xi
        y[i, : len(yi)] = yi
    return x, y


@dataclass
class AnchoredResult(Result):
    """Result of :func:`score_anchored`.

    ``table``: one row per combination (block without readout) x anchor concentration x
    readout with ``n_doses``, ``anchor_effect``, ``emax_library``, ``emax_observed``,
    ``emax_expected``, ``delta_emax``, ``ic50_library``, ``ic50_observed``,
    ``ic50_expected``, ``ic50_shift``, ``r2_library``, ``r2_combo``.  Effects are
    % inhibition for viability readouts and the induction scale as given otherwise.
    """


def score_anchored(
    screen: Any,
    *,
    induction_null: Literal["additive", "bliss"] = "additive",
    min_doses: int = 3,
    n_grid: int = 25,
    source: str = "<table>",
) -> AnchoredResult:
    """Score an anchored screen: library curve alone vs with the anchor, against Bliss.

    Parameters
    ----------
    screen
        Canonical screen table (or ``ScreenTable``); ``drug1`` is the library drug and
        ``drug2`` the anchor.  Every anchor concentration present in a block is scored,
        so full-matrix blocks give one row per anchor concentration as well.
    induction_null
        Independence null for induction readouts: ``additive`` (log fold-change scale)
        or ``bliss`` (percent scale).
    min_doses
        Minimum number of positive library doses for a curve to be fitted.
    n_grid
        Log-spaced doses over the tested range on which the expectation curve is
        evaluated before its LL.4 fit.
    source
        File name for error messages.

    Returns
    -------
    AnchoredResult

    References
    ----------
    Jaaks P et al. (2022). Effective drug combinations in breast, colon and pancreatic
    cancer cells. *Nature* 603:166-173.
    Bliss CI (1939). The toxicity of poisons applied jointly. *Ann Appl Biol* 26:585-615.
    """
    if induction_null not in ("additive", "bliss"):
        raise ValueError("induction_null must be 'additive' or 'bliss'")
    df = prepare_effects(screen, source)
    lib_series: list[tuple[np.ndarray, np.ndarray]] = []
    combo_series: list[tuple[np.ndarray, np.ndarray]] = []
    meta: list[dict[str, Any]] = []
    for (combo, readout), g in df.groupby(["combo", "readout"], sort=True):
        alone = g[g["conc2"] == 0]
        n_lib = int(alone.loc[alone["conc1"] > 0, "conc1"].nunique())
        anchors = np.unique(g.loc[(g["conc1"] > 0) & (g["conc2"] > 0), "conc2"].to_numpy())
        if n_lib < min_doses or anchors.size == 0:
            continue
        for a in anchors:
            c = g[g["conc2"] == a]
            a_alone = c.loc[c["conc1"] == 0, "effect"].to_numpy()
            if int(c.loc[c["conc1"] > 0, "conc1"].nunique()) < min_doses or a_alone.size == 0:
                continue
            lib_series.append((alone["conc1"].to_numpy(), alone["effect"].to_numpy()))
            combo_series.append((c["conc1"].to_numpy(), c["effect"].to_numpy()))
            kind = str(g["response_kind"].iloc[0])
            pos = c.loc[c["conc1"] > 0, "conc1"]
            meta.append({
                "combo": combo, "cell_line": g["cell_line"].iloc[0], "library_drug": g["drug1"].iloc[0],
                "anchor": g["drug2"].iloc[0], "anchor_conc": float(a), "readout": readout,
                "response_kind": kind, "n_doses": int(pos.nunique()),
                "dose_min": float(pos.min()), "dose_max": float(pos.max()),
                "anchor_effect": float(np.mean(a_alone)),
            })
    cols = ["combo", "cell_line", "library_drug", "anchor", "anchor_conc", "readout", "response_kind", "n_doses",
            "anchor_effect", "emax_library", "emax_observed", "emax_expected", "delta_emax", "ic50_library",
            "ic50_observed", "ic50_expected", "ic50_shift", "r2_library", "r2_combo"]
    params = {"induction_null": induction_null, "min_doses": min_doses, "n_grid": n_grid}
    if not meta:
        return AnchoredResult(table=pd.DataFrame(columns=cols), params=params)
    m = pd.DataFrame(meta)
    xl, yl = _pad(lib_series)
    xc, yc = _pad(combo_series)
    fl = fit_ll4(xl, yl)
    fc = fit_ll4(xc, yc)
    lo, hi = m["dose_min"].to_numpy(), m["dose_max"].to_numpy()
    grid = np.exp(np.log(lo)[:, None] + (np.log(hi) - np.log(lo))[:, None] * np.linspace(0, 1, n_grid)[None, :])
    e_lib = fl.predict(grid)
    e_a = m["anchor_effect"].to_numpy()[:, None]
    bliss = (m["response_kind"] != "induction").to_numpy() | (induction_null == "bliss")
    e_exp = np.where(bliss[:, None], e_lib + e_a - e_lib * e_a / 100.0, e_lib + e_a)
    x_exp = np.concatenate([np.zeros((len(m), 1)), grid], axis=1)
    y_exp = np.concatenate([e_a, e_exp], axis=1)
    fe = fit_ll4(x_exp, y_exp)
    top = hi[:, None]
    m["emax_library"] = fl.predict(top)[:, 0]
    m["emax_observed"] = fc.predict(top)[:, 0]
    m["emax_expected"] = e_exp[:, -1]
    m["delta_emax"] = m["emax_observed"] - m["emax_expected"]

    def ic50(f: Any) -> np.ndarray:
        return np.where(np.asarray(f.flat, dtype=bool), np.nan, np.asarray(f.e, dtype=float))

    m["ic50_library"], m["ic50_observed"], m["ic50_expected"] = ic50(fl), ic50(fc), ic50(fe)
    with np.errstate(divide="ignore", invalid="ignore"):
        m["ic50_shift"] = np.log10(m["ic50_expected"]) - np.log10(m["ic50_observed"])
    m["r2_library"], m["r2_combo"] = fl.r2, fc.r2
    return AnchoredResult(table=m[cols].reset_index(drop=True), params=params)
