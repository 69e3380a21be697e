"""Signature scores: published definitions, sample independence, missing genes, hot/cold calls."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitize.cohort.signatures import (
    BUILTIN,
    call_hot_cold,
    get_signature,
    list_signatures,
    score_signatures,
)
from sensitize.cohort.simulate import simulate_cohort
from sensitize.core.errors import InputError
from tests.conftest import shared_file

SIM = simulate_cohort(40, 60, seed=4)
SINGLE_SAMPLE_METHODS = ["mean", "zscore", "singscore"]


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 39), min_size=1, max_size=39, unique=True), st.sampled_from(SINGLE_SAMPLE_METHODS))
def test_scores_do_not_depend_on_other_samples(keep: list[int], method: str) -> None:
    expr = SIM.expression
    sets = {"immune": ["CXCL9", "CXCL10", "CD8A", "GZMA"]}
    full = score_signatures(expr, None, sets, gene_set_method=method).table
    sub_cols = expr.columns[sorted(keep)]
    part = score_signatures(expr[sub_cols], None, sets, gene_set_method=method).table
    pd.testing.assert_frame_equal(full.loc[sub_cols], part, check_exact=False, rtol=1e-12)


def test_ssgsea_es_single_sample() -> None:
    expr = SIM.expression.iloc[:, :6]
    sets = {"immune": ["CXCL9", "CXCL10", "CD8A", "GZMA", "PRF1"]}
    a = score_signatures(expr, [], sets, gene_set_method="ssgsea").table
    b = score_signatures(expr.iloc[:, :3], [], sets, gene_set_method="ssgsea").table
    np.testing.assert_allclose(a.iloc[:3].to_numpy(), b.to_numpy(), rtol=1e-8)


def test_gep_formula_weighted_housekeeping() -> None:
    sig = get_signature("GEP")
    expr = SIM.expression
    s = score_signatures(expr, ["GEP18"]).table["GEP18"]
    hk = expr.loc[[g.split("|")[0] for g in sig.housekeeping]].mean()
    manual = sum(w * (expr.loc[g] - hk) for g, w in sig.weights.items())  # type: ignore[union-attr]
    np.testing.assert_allclose(s.to_numpy(), manual.to_numpy(), rtol=1e-12)


def test_impres_count_and_mean_scores() -> None:
    s = score_signatures(SIM.expression, ["IMPRES", "CYT", "CXCL9_CXCL10"]).table
    assert s["IMPRES"].between(0, 15).all() and (s["IMPRES"] == s["IMPRES"].round()).all()
    np.testing.assert_allclose(s["CYT"], SIM.expression.loc[["GZMA", "PRF1"]].mean())
    np.testing.assert_allclose(s["CXCL9_CXCL10"], SIM.expression.loc[["CXCL9", "CXCL10"]].mean())


def test_missing_genes_flagged_and_insufficient_not_scored() -> None:
    expr = SIM.expression.drop(index=["IDO1", "HLA-DRA"])
    r = score_signatures(expr, ["IFNG6"])
    cov = r.coverage.set_index("signature")
    assert cov.loc["IFNG6", "n_found"] == 4 and cov.loc["IFNG6", "flag"] == "missing genes"
    assert set(cov.loc["IFNG6", "missing"].split()) == {"IDO1", "HLA-DRA"}
    assert r.table["IFNG6"].notna().all()
    expr2 = SIM.expression.drop(index=["GZMA"])
    r2 = score_signatures(expr2, ["CYT"], min_fraction=0.75)
    assert r2.table["CYT"].isna().all()
    assert "insufficient" in r2.coverage.iloc[0]["flag"]


def test_unknown_signature_error_lists_builtins() -> None:
    with pytest.raises(InputError, match="GEP18"):
        get_signature("NOPE")
    assert {"CXCL9_CXCL10", "IFNG6", "GEP18", "CYT", "CD8"} <= set(list_signatures()["name"])
    assert all(s.citation for s in BUILTIN.values())


@pytest.mark.reference
def test_gene_lists_match_signatures_reference_json() -> None:
    ref = json.loads(shared_file("clinical", "_signatures_reference", "signatures_reference.json").read_text())
    gep = ref["TcellInflamedGEP18_Ayers2017_Cristescu2018"]
    assert dict(get_signature("GEP18").weights or {}) == gep["weights"]
    assert list(get_signature("GEP18").housekeeping) == gep["housekeeping"]
    assert set(get_signature("IFNG6").genes) == set(ref["IFNG6_Ayers2017"]["genes"])
    assert set(get_signature("CYT").genes) == set(ref["CYT_Rooney2015"]["genes"])
    assert set(get_signature("EXPANDED_IMMUNE18").genes) == set(ref["ExpandedImmune18_Ayers2017"]["genes"])
    assert set(get_signature("TIS18").genes) == set(ref["TIS18_Danaher2018_geomean_TMEImmune"]["genes"])
    assert set(get_signature("CD8_TEFF").genes) == set(ref["CD8Teff_Mariathasan2018"]["genes"])
    pairs = [tuple(p) for p in ref["IMPRES_Auslander2018_pairs_TMEImmune"]["pairs"]]
    assert [(a, b.split("|")[0]) for a, b in get_signature("IMPRES").pairs] == pairs


@pytest.mark.reference
def test_r_reference_signature_values() -> None:
    """CYT, IFNG6 and CHEMO2 as the R reference computed them (means of log2(TPM+1))."""
    from sensitize.io.cohort import read_shared_cohort
    from tests.cohort._ref import feature_values

    c = read_shared_cohort(shared_file("clinical", "Gide2019_melanoma_antiPD1"))
    s = score_signatures(c.expression, ["CYT", "IFNG6", "CHEMO2"]).table
    for ours, theirs in (("CYT", "CYT"), ("IFNG6", "IFNG6"), ("CXCL9_CXCL10", "CHEMO2")):
        ref = feature_values("Gide2019_melanoma_antiPD1", theirs)
        np.testing.assert_allclose(s.loc[ref.index, ours], ref, atol=2e-4)


def test_hot_cold_rules() -> None:
    s = pd.Series(np.arange(9.0), index=list("abcdefghi"), name="GEP18")
    t = call_hot_cold(s, "tertile").table.set_index("sample")["call"]
    assert list(t) == ["cold"] * 3 + ["intermediate"] * 3 + ["hot"] * 3
    th = call_hot_cold(s, "threshold", 4.0)
    assert (th.table["call"] == np.where(s >= 4, "hot", "cold")).all()
    assert th.params["rule"] == "threshold"
    with pytest.raises(InputError):
        call_hot_cold(s, "threshold")
