"""Score combination screens: synergy (HSA, Bliss, Loewe, ZIP) and sensitivity (RI, CSS, S).

One code path serves a single block and a million: blocks are stacked by grid shape
(:mod:`sensitize.screen.blocks`) and every fit and model is vectorised over them.

Semantics follow SynergyFinder 3 (Ianevski et al. 2022; Zheng et al. 2022) with its
default settings: responses on the % inhibition scale, per-cell reference/observed/delta,
block synergy = mean delta over cells where all drugs are present, p-value of a one-sample
t-test of those deltas against 0.  See ``docs/screen.md`` for every formula and for where
and why numbers can differ from the R package.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sensitize import __version__
from sensitize.core.results import Result
from sensitize.screen.blocks import BlockGroup, PreparedScreen, prepare_blocks
from sensitize.screen.doseresponse import (
    CurveFits,
    fit_ll4,
    fit_ll4_drc,
    relative_ic50,
    sensitivity_score,
)
from sensitize.screen.models import (
    bliss_reference,
    combination_mask,
    correct_baseline,
    fit_monotherapies,
    hsa_reference,
    loewe_reference,
    monotherapies,
    most_synergistic_area,
    row_sum,
    zip_surfaces,
)
from sensitize.screen.schema import induction_scale, validate_screen

MODELS = ("ZIP", "HSA", "Bliss", "Loewe")

#: Curve fitters: ``"drc"`` reproduces SynergyFinder 3.x / drc 3.0-1 (BFGS emulation, the
#: default); ``"lm"`` is a multi-start Levenberg-Marquardt least-squares fit (finds the
#: least-squares optimum more often, but not SynergyFinder's numbers).
FITTERS: dict[str, Any] = {"drc": fit_ll4_drc, "lm": fit_ll4}


@dataclass
class ScoreOptions:
    """Settings of a scoring run (recorded in results and reports)."""

    models: tuple[str, ...] = MODELS
    correct_baseline: str = "non"
    loewe_method: str = "exact"
    impute: str = "none"
    n_boot: int = 100
    seed: int = 123
    sensitivity: bool = True
    msa_window: int = 3
    fitter: str = "drc"

    def __post_init__(self) -> None:
        if self.fitter not in FITTERS:
            raise ValueError(f"fitter must be one of {sorted(FITTERS)}, not {self.fitter!r}")

    @property
    def fit(self) -> Any:
        """The curve-fitting function selected by :attr:`fitter`."""
        return FITTERS[self.fitter]

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "correct_baseline": self.correct_baseline,
            "loewe_method": self.loewe_method,
            "impute": self.impute,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "sensitivity": self.sensitivity,
            "msa_window": self.msa_window,
            "fitter": self.fitter,
            "sensitize_version": __version__,
        }


@dataclass
class ScreenResult(Result):
    """Result of :func:`score_screen`.

    Attributes
    ----------
    table
        One row per block (``blocks.csv``): synergy scores, p-values, sensitivity
        scores, fit flags.
    cells
        One row per dose cell (``cells.csv``): reference, observed and delta per model.
    curves
        One row per monotherapy fit: LL.4 parameters, IC50, R², convergence.
    rejected
        Blocks that could not be scored, with the reason.
    """

    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def blocks(self) -> pd.DataFrame:
        """Alias of :attr:`table`."""
        return self.table

    def ranked(self, by: str = "ZIP_synergy", ascending: bool = False) -> pd.DataFrame:
        """Blocks sorted by a score (most synergistic first)."""
        return self.table.sort_values(by, ascending=ascending, na_position="last").reset_index(drop=True)


def _ttest(delta: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and two-sided one-sample t-test p-value over masked cells, per block."""
    nb = delta.shape[0]
    d = delta.reshape(nb, -1)[:, mask.ravel()]
    n = d.shape[1]
    mean = row_sum(d) / max(n, 1)
    if n < 2:
        return mean, np.full(nb, np.nan)
    sd = np.sqrt(row_sum((d - mean[:, None]) ** 2) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / np.sqrt(n))
    p = 2.0 * stats.t.sf(np.abs(t), n - 1)
    p = np.where(sd > 0, p, np.where(mean == 0, 1.0, 0.0))
    return mean, p


def _score_arrays(group: BlockGroup, effect: np.ndarray, opt: ScoreOptions) -> dict[str, Any]:
    """All models for one stack of grids (no bootstrap)."""
    conc = group.conc
    nd = effect.ndim - 1
    fit = opt.fit
    mono_fits = fit_monotherapies(effect, conc, fit)
    if opt.correct_baseline != "non":
        effect = correct_baseline(effect, mono_fits, conc, opt.correct_baseline)
        mono_fits = fit_monotherapies(effect, conc, fit)
    out: dict[str, Any] = {"effect": effect, "mono_fits": mono_fits}
    if "HSA" in opt.models:
        out["HSA_ref"] = hsa_reference(effect)
    if "Bliss" in opt.models:
        out["Bliss_ref"] = bliss_reference(effect)
    if "ZIP" in opt.models:
        zfit, zref = zip_surfaces(effect, conc, mono_fits, fit)
        out["ZIP_fit"] = zfit
        out["ZIP_ref"] = zref
    if "Loewe" in opt.models:
        lref, lci, lfb = loewe_reference(effect, conc, mono_fits, method=opt.loewe_method)
        out["Loewe_ref"] = lref
        out["Loewe_ci"] = lci
        out["Loewe_fallback"] = lfb
    comb = combination_mask(effect.shape[1:])
    for m in opt.models:
        obs = out["ZIP_fit"] if m == "ZIP" else effect
        delta = obs - out[f"{m}_ref"]
        delta = np.where(comb[None], delta, 0.0)
        out[f"{m}_synergy_cells"] = delta
        mean, p = _ttest(delta, comb)
        out[f"{m}_synergy"] = mean
        out[f"{m}_synergy_p_value"] = p
        out[f"{m}_msa"] = most_synergistic_area(delta, opt.msa_window) if nd == 2 else np.full(len(mean), np.nan)
    if opt.sensitivity:
        out.update(_sensitivity(effect, conc, mono_fits, fit))
    return out


def _sensitivity(effect: np.ndarray, conc: list[np.ndarray], mono_fits: list[CurveFits],
                 fit: Any = fit_ll4) -> dict[str, np.ndarray]:
    """IC50, RI per drug, and CSS and S for two-drug blocks.

    * ``ic50_k``: relative IC50 (``e``) of the monotherapy fit (zero dose included),
      capped at the highest tested dose.
    * ``ri_k``: relative inhibition, the area under an LL.4 fit of the monotherapy over
      its non-zero doses, as % of the log10-dose range (Malyutina et al. 2019).
    * ``css1_ic502``: for each non-zero dose of drug 1, the row's response is predicted
      at drug 2's IC50 from an LL.4 fit along drug 2 (predictions above 100 are capped at
      100); the area score of an LL.4 fit of these predictions over drug 1's doses.
      ``css2_ic501`` likewise; ``css`` is their mean.
    * ``S_sum = css - (ri_1 + ri_2)``, ``S_mean = css - (ri_1 + ri_2) / 2``,
      ``S_max = css - max(ri_1, ri_2)`` (DrugComb; Zheng et al. 2021).
    """
    nd = effect.ndim - 1
    nb = effect.shape[0]
    out: dict[str, np.ndarray] = {}
    ic50 = []
    monos = monotherapies(effect)
    for k, f in enumerate(mono_fits):
        x = conc[k]
        xmax = x[:, -1]
        ic = relative_ic50(f, xmax)
        ic50.append(ic)
        out[f"ic50_{k + 1}"] = ic
        g = fit(x[:, 1:], monos[k][:, 1:])
        out[f"ri_{k + 1}"] = sensitivity_score(g, np.log10(x[:, 1]), np.log10(xmax))
    if nd == 2:
        css = []
        for k in range(2):
            other = 1 - k
            moved = np.moveaxis(effect, k + 1, 1)  # (B, n_k, n_other)
            n_k = moved.shape[1]
            rows = moved[:, 1:, :].reshape(-1, moved.shape[2])  # each non-zero level of drug k
            xo = np.repeat(conc[other], n_k - 1, axis=0)
            f = fit(xo, rows)
            at = np.repeat(ic50[other], n_k - 1)[:, None]
            pred = np.minimum(f.predict(at)[:, 0], 100.0).reshape(nb, n_k - 1)
            x = conc[k][:, 1:]
            g = fit(x, pred)
            css.append(sensitivity_score(g, np.log10(x[:, 0]), np.log10(x[:, -1])))
        out["css1_ic502"] = css[0]
        out["css2_ic501"] = css[1]
        out["css"] = (css[0] + css[1]) / 2.0
        ri_sum = out["ri_1"] + out["ri_2"]
        out["S_sum"] = out["css"] - ri_sum
        out["S_mean"] = out["css"] - ri_sum / 2.0
        out["S_max"] = out["css"] - np.maximum(out["ri_1"], out["ri_2"])
    return out


def _block_rng(seed: int, block_id: Any, readout: Any) -> np.random.Generator:
    """Random stream of one block: depends only on the seed and the block's identity.

    So serial, multi-process, chunked and Dask runs draw the same numbers for a block.
    """
    key = zlib.crc32(f"{block_id!s}\x00{readout!s}".encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def _bootstrap(group: BlockGroup, opt: ScoreOptions) -> dict[str, np.ndarray]:
    """Seeded bootstrap over replicates: resample one replicate per cell, rescore."""
    nb = len(group)
    reps = group.replicates.reshape(nb, group.replicates.shape[1], -1)  # (B, R, C)
    nrep = group.n_rep.reshape(nb, -1)  # (B, C)
    has = (nrep > 1).any(axis=1)
    out: dict[str, np.ndarray] = {}
    if opt.n_boot <= 0 or not has.any():
        return out
    idx = np.flatnonzero(has)
    nboot = opt.n_boot
    # replicate positions are packed first-to-last within a cell
    u = np.stack([_block_rng(opt.seed, group.keys.at[i, "block_id"], group.keys.at[i, "readout"]).random((nboot, reps.shape[2])) for i in idx])
    pick = np.floor(u * np.maximum(nrep[idx][:, None, :], 1)).astype(int)
    sub = reps[idx]  # (b, R, C)
    boot = np.take_along_axis(sub[:, None, :, :], pick[:, :, None, :], axis=2)[:, :, 0, :]  # (b, nboot, C)
    # cells without any replicate keep the (imputed) mean
    mean_flat = group.effect[idx].reshape(len(idx), 1, -1)
    boot = np.where(np.isnan(boot), mean_flat, boot)
    boot_effect = boot.reshape(len(idx) * nboot, *group.shape)
    bgroup = BlockGroup(
        keys=group.keys.iloc[np.repeat(idx, nboot)].reset_index(drop=True),
        conc=[np.repeat(c[idx], nboot, axis=0) for c in group.conc],
        effect=boot_effect,
        replicates=boot_effect[:, None],
        n_rep=np.ones(boot_effect.shape, dtype=int),
        imputed=np.zeros(boot_effect.shape, dtype=bool),
    )
    bopt = replace(opt, n_boot=0, sensitivity=False)  # only the synergy scores are resampled
    res = _score_arrays(bgroup, boot_effect, bopt)
    for m in opt.models:
        vals = res[f"{m}_synergy"].reshape(len(idx), nboot)
        lo = np.full(nb, np.nan)
        hi = np.full(nb, np.nan)
        pb = np.full(nb, np.nan)
        lo[idx] = np.percentile(vals, 2.5, axis=1)
        hi[idx] = np.percentile(vals, 97.5, axis=1)
        frac_le = (vals <= 0).mean(axis=1)
        frac_ge = (vals >= 0).mean(axis=1)
        pb[idx] = np.minimum(1.0, 2.0 * np.minimum(frac_le, frac_ge) + 1.0 / (nboot + 1))
        out[f"{m}_synergy_ci_low"] = lo
        out[f"{m}_synergy_ci_high"] = hi
        out[f"{m}_synergy_p_boot"] = pb
    return out


def _model_names(f: CurveFits) -> np.ndarray:
    """'LL.4', 'L.4' (SynergyFinder's fallback on log dose) or 'failed' per curve."""
    if f.model is None:
        return np.where(f.failed, "failed", "LL.4")
    return np.array(["LL.4", "L.4", "failed"])[np.asarray(f.model, dtype=int)]


def _group_tables(group: BlockGroup, res: dict[str, Any], boot: dict[str, np.ndarray], opt: ScoreOptions) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    nb = len(group)
    nd = group.n_drugs
    shape = group.shape
    blocks = group.keys.copy()
    blocks["n_drugs"] = nd
    blocks["grid"] = "x".join(str(n) for n in shape)
    blocks["n_replicates_max"] = group.n_rep.reshape(nb, -1).max(axis=1)
    blocks["n_imputed"] = group.imputed.reshape(nb, -1).sum(axis=1)
    for m in opt.models:
        blocks[f"{m}_synergy"] = res[f"{m}_synergy"]
        blocks[f"{m}_synergy_p_value"] = res[f"{m}_synergy_p_value"]
        for suffix in ("ci_low", "ci_high", "p_boot"):
            key = f"{m}_synergy_{suffix}"
            if key in boot:
                blocks[key] = boot[key]
        blocks[f"{m}_msa"] = res[f"{m}_msa"]
    for k in range(nd):
        if f"ic50_{k + 1}" in res:
            blocks[f"ic50_{k + 1}"] = res[f"ic50_{k + 1}"]
            blocks[f"ri_{k + 1}"] = res[f"ri_{k + 1}"]
    for c in ("css1_ic502", "css2_ic501", "css", "S_sum", "S_mean", "S_max"):
        if c in res:
            blocks[c] = res[c]
    fits: list[CurveFits] = res["mono_fits"]
    flags = []
    for k, f in enumerate(fits):
        names = _model_names(f)
        blocks[f"fit_ok_{k + 1}"] = f.converged & ~f.failed
        blocks[f"fit_model_{k + 1}"] = names
        blocks[f"r2_{k + 1}"] = f.r2
        flags.append(np.where(
            f.failed, f"drug{k + 1} fit failed (LL.4 and L.4); observed responses used",
            np.where(~f.converged, f"drug{k + 1} fit did not converge", "")))
    if "Loewe_fallback" in res:
        nfb = res["Loewe_fallback"].reshape(nb, -1).sum(axis=1)
        blocks["Loewe_fallback_cells"] = nfb
        flags.append(np.where(nfb > 0, "Loewe fallback used in " + nfb.astype(str) + " cell(s)", ""))
    flag_txt = ["; ".join(s for s in parts if s) for parts in zip(*flags, strict=True)] if flags else [""] * nb
    blocks["flag"] = [bool(t) for t in flag_txt]
    blocks["reason"] = flag_txt

    # cell table
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    ncell = int(np.prod(shape))
    cells = pd.DataFrame({
        "block_id": np.repeat(group.keys["block_id"].to_numpy(), ncell),
        "readout": np.repeat(group.keys["readout"].to_numpy(), ncell),
    })
    for k in range(nd):
        cells[f"conc{k + 1}"] = group.conc[k][:, grids[k].ravel()].ravel()
    cells["response"] = res["effect"].reshape(-1)
    cells["n_replicates"] = group.n_rep.reshape(-1)
    cells["imputed"] = group.imputed.reshape(-1)
    for m in opt.models:
        if m == "ZIP":
            cells["ZIP_fit"] = res["ZIP_fit"].reshape(-1)
        cells[f"{m}_ref"] = res[f"{m}_ref"].reshape(-1)
        cells[f"{m}_synergy"] = res[f"{m}_synergy_cells"].reshape(-1)
        if m == "Loewe":
            cells["Loewe_ci"] = res["Loewe_ci"].reshape(-1)

    # curves
    rows = []
    for k, f in enumerate(fits):
        rows.append(pd.DataFrame({
            "block_id": group.keys["block_id"].to_numpy(),
            "readout": group.keys["readout"].to_numpy(),
            "drug_index": k + 1,
            "drug": group.keys[f"drug{k + 1}"].to_numpy(),
            "model": _model_names(f),
            "b": f.b, "c": f.c, "d": f.d, "e": f.e,
            "zero_dose": f.zero_dose if f.zero_dose is not None else 1e-10,
            "ic50": relative_ic50(f, group.conc[k][:, -1]),
            "emax": f.predict(group.conc[k][:, -1:])[:, 0],
            "r2": f.r2, "rss": f.rss, "n": f.n,
            "converged": f.converged, "flat": f.flat,
        }))
    curves = pd.concat(rows, ignore_index=True)
    return blocks, cells, curves


def score_prepared(prep: PreparedScreen, opt: ScoreOptions) -> ScreenResult:
    """Score blocks already grouped by :func:`prepare_blocks`."""
    btabs, ctabs, ftabs = [], [], []
    for group in prep.groups:
        res = _score_arrays(group, group.effect, opt)
        boot = _bootstrap(group, opt)
        b, c, f = _group_tables(group, res, boot, opt)
        btabs.append(b)
        ctabs.append(c)
        ftabs.append(f)
    blocks = pd.concat(btabs, ignore_index=True) if btabs else pd.DataFrame()
    cells = pd.concat(ctabs, ignore_index=True) if ctabs else pd.DataFrame()
    curves = pd.concat(ftabs, ignore_index=True) if ftabs else pd.DataFrame()
    params = opt.to_dict()
    params["notes"] = list(prep.notes)
    return ScreenResult(table=blocks, params=params, cells=cells, curves=curves, rejected=prep.rejected)


def score_screen(
    df: pd.DataFrame,
    *,
    response_kind: str | None = None,
    models: tuple[str, ...] | list[str] = MODELS,
    correct_baseline: str = "non",
    loewe_method: str = "exact",
    impute: str = "none",
    n_boot: int = 100,
    seed: int = 123,
    sensitivity: bool = True,
    source: str = "<table>",
    fitter: str = "drc",
    induction: str = "as_is",
) -> ScreenResult:
    """Score every block of a combination screen.

    Parameters
    ----------
    df
        Tidy screen table (see :mod:`sensitize.screen.schema`); validated here.
    response_kind
        ``viability``, ``inhibition`` or ``induction`` when the table has no
        ``response_kind`` column.
    models
        Any of ``ZIP``, ``HSA``, ``Bliss``, ``Loewe``.
    correct_baseline
        SynergyFinder's baseline correction: ``non`` (default), ``part`` or ``all``.
    loewe_method
        ``exact`` (bracketed root finding) or ``grid`` (SynergyFinder's 100-level grid).
    impute
        ``none`` (incomplete grids are rejected with the missing cells named) or
        ``neighbours`` (documented neighbour-mean imputation, flagged per cell).
    n_boot, seed
        Bootstrap iterations over replicates (blocks with replicates only) and its seed.
    sensitivity
        Compute IC50, RI, CSS and S scores.
    source
        File name used in error messages.
    induction
        Scale of ``induction`` readouts: ``as_is`` (default; already 0 = vehicle),
        ``log2fc`` or ``percent_max`` (raw signals such as CXCL10 pg/mL rescaled per block
        against its vehicle cell; see :func:`sensitize.screen.schema.induction_scale`).
    fitter
        ``drc`` (default: SynergyFinder 3.x / drc 3.0-1 emulation, see ``docs/screen.md``)
        or ``lm`` (multi-start Levenberg-Marquardt least squares).

    Returns
    -------
    ScreenResult
        ``.table`` (blocks), ``.cells``, ``.curves``, ``.rejected`` and ``.params``.

    References
    ----------
    Ianevski A, Giri AK, Aittokallio T (2022). SynergyFinder 3.0: an interactive analysis
    and consensus interpretation of multi-drug synergies across multiple samples.
    Nucleic Acids Res 50:W739-W743.
    Zheng S et al. (2021). DrugComb update. Nucleic Acids Res 49:D1132-D1140 (S scores).
    """
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; choose from {MODELS}")
    if loewe_method not in ("exact", "grid"):
        raise ValueError("loewe_method must be 'exact' or 'grid'")
    v = validate_screen(df, source=source, response_kind=response_kind, allow_missing_response=impute != "none")
    v = induction_scale(v, induction, source=source)
    prep = prepare_blocks(v, impute=impute)
    opt = ScoreOptions(
        models=tuple(models),
        correct_baseline=correct_baseline,
        loewe_method=loewe_method,
        impute=impute,
        n_boot=n_boot,
        seed=seed,
        sensitivity=sensitivity,
        fitter=fitter,
    )
    result = score_prepared(prep, opt)
    result.params["source"] = source
    result.params["induction_scale"] = induction
    return result
