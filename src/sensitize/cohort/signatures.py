"""Published immune signatures and single-sample scores.

Every built-in signature is scored **within each sample** (on log2 expression, e.g.
log2(TPM + 1)), so a sample's score never depends on which other samples are in the
matrix (unlike PCA-, z-score-across-samples- or GSVA-based scores, or ssGSEA's
across-sample NES normalisation).  Scoring methods:

``mean``
    Mean of the log2 expression of the signature genes (Ayers 2017 IFN-γ 6 and expanded
    immune; CYT as the mean of log2 values = log2 of the geometric mean, Rooney 2015).
``weighted_hk``
    Ayers 2017 / Cristescu 2018 T-cell-inflamed GEP:
    :math:`\\sum_i w_i\\,(x_i - \\overline{x}_{HK})`, housekeeping-normalised with the
    mean of the 11 housekeeping genes of the same sample.
``pairs``
    IMPRES (Auslander 2018): number of the 15 checkpoint gene pairs with
    ``x[a] > x[b]`` (0..15).
``zscore`` (for any gene set)
    Mean over the set of the within-sample z-score
    :math:`(x_{gs} - \\mathrm{mean}_g x_{\\cdot s}) / \\mathrm{sd}_g x_{\\cdot s}` (over all
    genes of the sample).
``singscore`` (for any gene set)
    Foroutan et al. (2018) rank score: the mean within-sample rank of the set genes,
    scaled to [-0.5, 0.5] by its theoretical minimum and maximum.
``ssgsea`` (for any gene set)
    Barbie et al. (2009) single-sample GSEA enrichment score via gseapy (rank
    normalisation, weight 0.25); the *un-normalised* ES is used because gseapy's NES
    divides by the range across samples.

Missing genes are reported per signature; a score is computed from the genes present
when at least ``min_fraction`` of them are found, otherwise it is NaN and flagged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.core.results import Result


@dataclass(frozen=True)
class Signature:
    """A published gene signature.

    Attributes
    ----------
    name
        Registry name (case-insensitive lookup).
    genes
        HGNC symbols; an entry ``"A|B"`` accepts either symbol (old/new names).
    method
        ``mean``, ``weighted_hk``, ``pairs``, ``zscore``, ``singscore`` or ``ssgsea``.
    weights
        Per-gene weights (``weighted_hk``).
    housekeeping
        Housekeeping genes (``weighted_hk``).
    pairs
        Gene pairs (``pairs``).
    citation
        The paper (with PMID/DOI).
    description
        What the score measures and how.
    """

    name: str
    genes: tuple[str, ...]
    method: str = "mean"
    citation: str = ""
    description: str = ""
    weights: Mapping[str, float] | None = None
    housekeeping: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()


_GEP_WEIGHTS = {
    "CCL5": 0.008346, "CD27": 0.072293, "CD274": 0.042853, "CD276": -0.0239, "CD8A": 0.031021,
    "CMKLR1": 0.151253, "CXCL9": 0.074135, "CXCR6": 0.004313, "HLA-DQA1": 0.020091,
    "HLA-DRB1": 0.058806, "HLA-E": 0.07175, "IDO1": 0.060679, "LAG3": 0.123895, "NKG7": 0.075524,
    "PDCD1LG2": 0.003734, "PSMB10": 0.032999, "STAT1": 0.250229, "TIGIT": 0.084767,
}
_GEP_HK = ("ABCF1", "C14orf102|NRDE2", "G6PD", "OAZ1", "POLR2A", "SDHA", "STK11IP", "TBC1D10B",
           "TBP", "UBB", "ZBTB34")
_AYERS = "Ayers M et al. (2017) J Clin Invest 127:2930-2940, PMID 28650338"

BUILTIN: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature(
            "CXCL9_CXCL10", ("CXCL9", "CXCL10"), "mean",
            "House IG et al. (2020) Clin Cancer Res 26:487-504, doi:10.1158/1078-0432.CCR-19-1868; "
            "CXCL9 as top single-gene ICI predictor: Litchfield K et al. (2021) Cell 184:596-614, "
            "PMID 33508232",
            "IFN-γ-induced T-cell-attracting chemokines: mean log2 expression of CXCL9 and CXCL10",
        ),
        Signature(
            "IFNG6", ("IFNG", "STAT1", "IDO1", "CXCL9", "CXCL10", "HLA-DRA"), "mean", _AYERS,
            "Ayers IFN-γ 6-gene signature: mean log2 expression",
        ),
        Signature(
            "GEP18", tuple(_GEP_WEIGHTS), "weighted_hk",
            _AYERS + "; Cristescu R et al. (2018) Science 362:eaar3593, PMID 30309915",
            "T-cell-inflamed gene expression profile: weighted sum of log2 expression of 18 genes "
            "minus the mean of 11 housekeeping genes of the same sample",
            weights=_GEP_WEIGHTS, housekeeping=_GEP_HK,
        ),
        Signature(
            "EXPANDED_IMMUNE18",
            ("CD3D", "IDO1", "CIITA", "CD3E", "CCL5", "GZMK", "CD2", "HLA-DRA", "CXCL13", "IL2RG",
             "NKG7", "HLA-E", "CXCR6", "LAG3", "TAGAP", "CXCL10", "STAT1", "GZMB"),
            "mean", _AYERS, "Ayers expanded immune 18-gene signature (unweighted): mean log2 expression",
        ),
        Signature(
            "CYT", ("GZMA", "PRF1"), "mean",
            "Rooney MS et al. (2015) Cell 160:48-61, PMID 25594174",
            "Cytolytic activity: geometric mean of GZMA and PRF1, computed as the mean of log2 "
            "expression (= log2 of the geometric mean of TPM + 1)",
        ),
        Signature(
            "CD8", ("CD8A", "CD8B"), "mean",
            "Jiang P et al. (2018) Nat Med 24:1550-1558 (TIDE CD8 marker), PMID 30127393",
            "CD8 T-cell level: mean log2 expression of CD8A and CD8B",
        ),
        Signature(
            "CD8_TEFF", ("CD8A", "GZMA", "GZMB", "IFNG", "CXCL9", "CXCL10", "PRF1", "TBX21"),
            "mean", "Mariathasan S et al. (2018) Nature 554:544-548, PMID 29443960",
            "CD8 T-effector signature: mean log2 expression (single-sample variant; the paper "
            "used the first principal component across samples)",
        ),
        Signature(
            "IMMUNE_CHECKPOINT", ("CD274", "PDCD1LG2", "CTLA4", "PDCD1", "LAG3", "HAVCR2", "TIGIT"),
            "mean", "Mariathasan S et al. (2018) Nature 554:544-548, PMID 29443960",
            "Immune checkpoint genes: mean log2 expression (single-sample variant)",
        ),
        Signature(
            "PAN_F_TBRS",
            ("ACTA2", "ACTG2", "ADAM12", "ADAM19", "CNN1", "COL4A1", "CTGF|CCN2", "CTPS1",
             "FAM101B|RFLNB", "FSTL3", "HSPB1", "IGFBP3", "PXDC1", "SEMA7A", "SH3PXD2A", "TAGLN",
             "TGFBI", "TNS1", "TPM1"),
            "mean", "Mariathasan S et al. (2018) Nature 554:544-548, PMID 29443960",
            "Pan-fibroblast TGF-β response signature: mean log2 expression (single-sample variant)",
        ),
        Signature(
            "TIS18",
            ("CD276", "HLA-DQA1", "CD274", "IDO1", "HLA-DRB1", "HLA-E", "CMKLR1", "PDCD1LG2",
             "PSMB10", "LAG3", "CXCL9", "STAT1", "CD8A", "CCL5", "NKG7", "TIGIT", "CD27", "CXCR6"),
            "mean", "Danaher P et al. (2018) J Immunother Cancer 6:63, doi:10.1186/s40425-018-0367-1",
            "Tumor inflammation signature genes, unweighted: mean log2 expression (= log2 "
            "geometric mean)",
        ),
        Signature(
            "CHEMOKINE12",
            ("CCL2", "CCL3", "CCL4", "CCL5", "CCL8", "CCL18", "CCL19", "CCL21", "CXCL9", "CXCL10",
             "CXCL11", "CXCL13"),
            "mean", "Messina JL et al. (2012) Sci Rep 2:765, doi:10.1038/srep00765",
            "12-chemokine signature: mean log2 expression (single-sample variant; the paper used "
            "the first principal component)",
        ),
        Signature(
            "TCELL_INFLAMED13",
            ("CCL2", "CCL3", "CCL4", "CD8A", "CXCL10", "CXCL9", "GZMK", "HLA-DMA", "HLA-DMB",
             "HLA-DOA", "HLA-DOB", "ICOS", "IRF1"),
            "mean", "Spranger S, Bao R, Gajewski TF (2015) Nature 523:231-235, PMID 25970248",
            "Gajewski T-cell-inflamed 13-gene set: mean log2 expression",
        ),
        Signature(
            "IMPRES",
            tuple(sorted({g for p in (
                ("PDCD1", "TNFSF4"), ("CD27", "PDCD1"), ("CTLA4", "TNFSF4"), ("CD40", "CD28"),
                ("CD86", "TNFSF4"), ("CD28", "CD86"), ("CD80", "TNFSF9"), ("CD274", "VSIR"),
                ("CD86", "HAVCR2"), ("CD40", "PDCD1"), ("CD86", "CD200"), ("CD40", "CD80"),
                ("CD28", "CD276"), ("CD40", "CD274"), ("TNFRSF14", "CD86")) for g in p})),
            "pairs", "Auslander N et al. (2018) Nat Med 24:1545-1549, PMID 30127394",
            "Immuno-predictive score: number of the 15 checkpoint gene pairs (a, b) with "
            "expression of a > b in the sample (0-15)",
            pairs=(("PDCD1", "TNFSF4"), ("CD27", "PDCD1"), ("CTLA4", "TNFSF4"), ("CD40", "CD28"),
                   ("CD86", "TNFSF4"), ("CD28", "CD86"), ("CD80", "TNFSF9"), ("CD274", "VSIR|C10orf54"),
                   ("CD86", "HAVCR2"), ("CD40", "PDCD1"), ("CD86", "CD200"), ("CD40", "CD80"),
                   ("CD28", "CD276"), ("CD40", "CD274"), ("TNFRSF14", "CD86")),
        ),
    ]
}
_ALIASES = {
    "CHEMO2": "CXCL9_CXCL10", "CXCL9/CXCL10": "CXCL9_CXCL10", "CXCL9_10": "CXCL9_CXCL10",
    "IFNG": "IFNG6", "IFN-GAMMA": "IFNG6", "IFNGAMMA6": "IFNG6", "IFNG_6": "IFNG6",
    "GEP": "GEP18", "TCELL_INFLAMED_GEP": "GEP18", "T-CELL-INFLAMED-GEP": "GEP18",
    "CYTOLYTIC": "CYT", "CD8T": "CD8", "CD8_TCELL": "CD8", "CD8TEFF": "CD8_TEFF", "TIS": "TIS18",
    "GAJEWSKI13": "TCELL_INFLAMED13", "EXPANDED_IMMUNE": "EXPANDED_IMMUNE18",
}


def get_signature(name: str) -> Signature:
    """Look up a built-in signature by name or alias (case-insensitive)."""
    key = name.strip().upper().replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key in BUILTIN:
        return BUILTIN[key]
    raise InputError(
        f"unknown signature {name!r}; built-in signatures: {', '.join(sorted(BUILTIN))} "
        "(or give a GMT file of gene sets)"
    )


def list_signatures() -> pd.DataFrame:
    """Table of the built-in signatures (name, method, n genes, genes, citation)."""
    return pd.DataFrame([
        {"name": s.name, "method": s.method, "n_genes": len(s.genes),
         "genes": " ".join(s.genes), "housekeeping": " ".join(s.housekeeping),
         "description": s.description, "citation": s.citation}
        for s in BUILTIN.values()
    ])


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Read gene sets from a GMT file (name, description, genes... per line)."""
    sets: dict[str, list[str]] = {}
    p = Path(path)
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = [x.strip() for x in line.split("\t")]
        if len(parts) < 3:
            raise InputError("a GMT line needs a name, a description and genes", file=str(p), rows=[i])
        sets[parts[0]] = [g for g in parts[2:] if g]
    return sets


def _resolve(genes: Sequence[str], index: pd.Index) -> tuple[list[str], list[str], dict[str, str]]:
    """Map signature genes (with ``A|B`` alternatives) to rows of the matrix (case-insensitive)."""
    upper: dict[str, str] = {}
    for g in index:
        upper.setdefault(str(g).upper(), str(g))
    present, missing = [], []
    used: dict[str, str] = {}
    idx = set(map(str, index))
    for g in genes:
        hit = None
        for alt in g.split("|"):
            if alt in idx:
                hit = alt
                break
            if alt.upper() in upper:
                hit = upper[alt.upper()]
                break
        if hit is None:
            missing.append(g)
        else:
            present.append(hit)
            if hit != g:
                used[g] = hit
    return present, missing, used


@dataclass
class SignatureScores(Result):
    """Signature scores per sample.

    ``table``: samples x signatures (index = sample).  ``coverage``: one row per
    signature with ``signature``, ``method``, ``n_genes``, ``n_found``, ``missing``,
    ``flag`` (``""``, ``"missing genes"`` or ``"insufficient genes: score not computed"``)
    and ``citation``.
    """

    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)


def _score_mean(expr: pd.DataFrame, genes: list[str]) -> pd.Series:
    return expr.loc[genes].mean(axis=0, skipna=True)


def _zscore_within(expr: pd.DataFrame) -> pd.DataFrame:
    mu = expr.mean(axis=0)
    sd = expr.std(axis=0, ddof=1)
    return (expr - mu) / sd


def _singscore(expr: pd.DataFrame, genes: list[str]) -> pd.Series:
    n_total = expr.notna().sum(axis=0).astype(float)
    ranks = expr.rank(axis=0, method="average")
    k = len(genes)
    mean_rank = ranks.loc[genes].mean(axis=0)
    lo = (k + 1) / 2
    hi = (2 * n_total - k + 1) / 2
    return (mean_rank - lo) / (hi - lo) - 0.5


def ssgsea_scores(expr: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]], *,
                  weight: float = 0.25, seed: int = 0) -> pd.DataFrame:
    """ssGSEA enrichment scores (un-normalised ES) per sample via gseapy.

    Returns samples x gene sets.  The ES of a sample depends only on that sample's
    ranking (Barbie et al. 2009, Nature 462:108-112).
    """
    import gseapy

    sets = {k: list(v) for k, v in gene_sets.items()}
    res = gseapy.ssgsea(data=expr, gene_sets=sets, outdir=None, min_size=1, max_size=100000,
                        sample_norm_method="rank", weight=weight, no_plot=True, threads=1,
                        seed=seed, verbose=False)
    tab = res.res2d.pivot(index="Name", columns="Term", values="ES").astype(float)
    return tab.reindex(index=expr.columns)


def score_signatures(
    expression: pd.DataFrame,
    signatures: Sequence[str | Signature] | None = None,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    *,
    gene_set_method: str = "mean",
    min_fraction: float = 0.5,
) -> SignatureScores:
    """Score built-in signatures and user gene sets for every sample.

    Parameters
    ----------
    expression
        Genes x samples on a log2 scale (e.g. ``Cohort.expression``).
    signatures
        Built-in names (see :func:`list_signatures`) or :class:`Signature` objects;
        default: all built-in signatures.
    gene_sets
        User gene sets ``{name: genes}`` scored with ``gene_set_method``
        (``mean``, ``zscore``, ``singscore`` or ``ssgsea``).
    min_fraction
        Minimum fraction of a signature's genes that must be present.
    """
    sigs: list[Signature] = []
    for s in (list(BUILTIN.values()) if signatures is None else signatures):
        sigs.append(s if isinstance(s, Signature) else get_signature(s))
    for name, genes in (gene_sets or {}).items():
        if gene_set_method not in ("mean", "zscore", "singscore", "ssgsea"):
            raise InputError(f"unknown gene-set method {gene_set_method!r}")
        sigs.append(Signature(str(name), tuple(genes), gene_set_method, "user gene set", ""))
    scores: dict[str, pd.Series] = {}
    cov_rows = []
    z_cache: pd.DataFrame | None = None
    ssgsea_sets: dict[str, list[str]] = {}
    for s in sigs:
        present, missing, renamed = _resolve(s.genes, expression.index)
        hk_present, hk_missing, _ = _resolve(s.housekeeping, expression.index)
        pair_missing: list[str] = []
        n_req = len(s.genes)
        n_found = len(present)
        frac = n_found / n_req if n_req else 0.0
        flag = "missing genes" if missing else ""
        ok = frac >= min_fraction and n_found > 0
        if s.method == "weighted_hk" and not hk_present:
            ok = False
        if not ok:
            flag = "insufficient genes: score not computed"
            scores[s.name] = pd.Series(np.nan, index=expression.columns)
        elif s.method == "mean":
            scores[s.name] = _score_mean(expression, present)
        elif s.method == "weighted_hk":
            assert s.weights is not None
            hk = expression.loc[hk_present].mean(axis=0)
            back = {v: k for k, v in renamed.items()}
            w = pd.Series({g: s.weights[back.get(g, g)] for g in present})
            scores[s.name] = pd.Series(
                (expression.loc[present].sub(hk, axis=1)).mul(w, axis=0).sum(axis=0))
        elif s.method == "pairs":
            total = pd.Series(0.0, index=expression.columns)
            for a, b in s.pairs:
                pa, ma, _ = _resolve([a], expression.index)
                pb, mb, _ = _resolve([b], expression.index)
                if ma or mb:
                    pair_missing.append(f"{a}>{b}")
                    continue
                total = total + pd.Series(
                    (expression.loc[pa[0]].to_numpy() > expression.loc[pb[0]].to_numpy()).astype(float),
                    index=expression.columns)
            if len(pair_missing) > len(s.pairs) * (1 - min_fraction):
                flag = "insufficient genes: score not computed"
                total[:] = np.nan
            scores[s.name] = total
        elif s.method == "zscore":
            if z_cache is None:
                z_cache = _zscore_within(expression)
            scores[s.name] = z_cache.loc[present].mean(axis=0)
        elif s.method == "singscore":
            scores[s.name] = _singscore(expression, present)
        elif s.method == "ssgsea":
            ssgsea_sets[s.name] = present
        else:
            raise InputError(f"unknown scoring method {s.method!r} for {s.name}")
        cov_rows.append({
            "signature": s.name, "method": s.method, "n_genes": n_req, "n_found": n_found,
            "missing": " ".join(missing), "housekeeping_found": f"{len(hk_present)}/{len(s.housekeeping)}"
            if s.housekeeping else "", "housekeeping_missing": " ".join(hk_missing),
            "pairs_missing": " ".join(pair_missing), "flag": flag, "citation": s.citation,
        })
    if ssgsea_sets:
        es = ssgsea_scores(expression, ssgsea_sets)
        for k in ssgsea_sets:
            scores[k] = es[k] if k in es.columns else pd.Series(np.nan, index=expression.columns)
    table = pd.DataFrame({str(k): scores[str(k)] for k in [r["signature"] for r in cov_rows]},
                         index=expression.columns)
    table.index.name = "sample"
    return SignatureScores(table, {"min_fraction": min_fraction, "gene_set_method": gene_set_method,
                                   "scale": "log2 expression as given"},
                           coverage=pd.DataFrame(cov_rows))


@dataclass
class HotColdCall(Result):
    """Hot/cold calls: ``table`` has ``sample``, ``score``, ``call``; ``thresholds`` used."""

    thresholds: dict[str, float] = field(default_factory=dict)


def call_hot_cold(
    scores: pd.Series, rule: str = "tertile", threshold: float | None = None
) -> HotColdCall:
    """Classify tumours as immune ``hot``/``cold`` from a score under a stated rule.

    Rules
    -----
    ``threshold``
        ``hot`` if score >= ``threshold`` else ``cold`` (sample-independent; e.g. a
        published cut-off on the same scale).
    ``median``
        ``hot`` above the cohort median, ``cold`` at or below (cohort-relative).
    ``tertile``
        ``hot`` in the top tertile, ``cold`` in the bottom tertile, ``intermediate``
        otherwise (cohort-relative).
    """
    s = scores.astype(float)
    if rule == "threshold":
        if threshold is None:
            raise InputError("rule 'threshold' needs a threshold value")
        call = np.where(s >= threshold, "hot", "cold")
        thr = {"hot_if_at_least": float(threshold)}
    elif rule == "median":
        med = float(s.median())
        call = np.where(s > med, "hot", "cold")
        thr = {"median": med}
    elif rule == "tertile":
        q1, q2 = (float(v) for v in s.quantile([1 / 3, 2 / 3]))
        call = np.where(s > q2, "hot", np.where(s <= q1, "cold", "intermediate"))
        thr = {"q1": q1, "q2": q2}
    else:
        raise InputError(f"unknown hot/cold rule {rule!r} (threshold, median, tertile)")
    call = np.where(s.isna(), "NA", call)
    tab = pd.DataFrame({"sample": s.index, "score": s.to_numpy(), "call": call})
    return HotColdCall(tab, {"rule": rule, "score": str(scores.name)}, thresholds=thr)


def signature_name_ok(name: str) -> str:
    """A file-system-safe version of a signature name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def signature_params(sig: Signature) -> dict[str, Any]:
    """JSON-friendly description of a signature."""
    return {"name": sig.name, "method": sig.method, "genes": list(sig.genes),
            "weights": dict(sig.weights) if sig.weights else None,
            "housekeeping": list(sig.housekeeping), "citation": sig.citation}
