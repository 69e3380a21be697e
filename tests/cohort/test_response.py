"""Response association: AUC, DeLong CI, Mann-Whitney p against pROC / R, published Gide AUCs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensitize.cohort.response import auc_delong, bh_fdr, response_association, roc_curve
from sensitize.cohort.simulate import simulate_cohort
from sensitize.core.errors import InputError
from tests.cohort._ref import clinical, combos, feature_values, ref_float, ref_values

RESP = combos(("response",))


def _inputs(cohort: str, feature: str) -> tuple[pd.Series, pd.Series]:
    cl = clinical(cohort)
    y = cl["response"].map({"R": 1.0, "NR": 0.0})
    x = feature_values(cohort, feature)
    return x, y.reindex(x.index)


@pytest.mark.reference
@pytest.mark.parametrize("cohort,feature,endpoint", RESP)
def test_auc_delong_wilcox_match_r(cohort: str, feature: str, endpoint: str) -> None:
    x, y = _inputs(cohort, feature)
    ref = ref_values(cohort, feature, endpoint)
    r = response_association({feature: x}, y, logistic=False).table.iloc[0]
    assert r["n_responders"] == int(ref_float(ref, "n_R"))
    assert r["n_nonresponders"] == int(ref_float(ref, "n_NR"))
    assert r["AUC"] == pytest.approx(ref_float(ref, "AUC_pROC"), abs=1e-12)
    assert r["AUC_se"] == pytest.approx(ref_float(ref, "AUC_delong_se"), rel=1e-9)
    assert r["AUC_lower95"] == pytest.approx(ref_float(ref, "AUC_delong_lower95"), rel=1e-9)
    assert r["AUC_upper95"] == pytest.approx(ref_float(ref, "AUC_delong_upper95"), rel=1e-9)
    assert r["p"] == pytest.approx(ref_float(ref, "wilcox_p_exactFALSE_correctTRUE"), rel=1e-9)
    assert r["mean_R"] == pytest.approx(ref_float(ref, "mean_x_R"), rel=1e-12)


@pytest.mark.reference
def test_published_gide_single_gene_aucs() -> None:
    """Gide anti-PD-1: CXCL9 ~0.82, CXCL10 ~0.84, CD8A ~0.81 (R vs NR)."""
    from sensitize.io.cohort import read_shared_cohort
    from tests.conftest import shared_file

    c = read_shared_cohort(shared_file("clinical", "Gide2019_melanoma_antiPD1"))
    assert c.response is not None
    res = response_association({g: c.feature(g) for g in ("CXCL9", "CXCL10", "CD8A")},
                               c.response.labels).table.set_index("biomarker")
    assert res.loc["CXCL9", "AUC"] == pytest.approx(0.82, abs=0.005)
    assert res.loc["CXCL10", "AUC"] == pytest.approx(0.84, abs=0.005)
    assert res.loc["CD8A", "AUC"] == pytest.approx(0.81, abs=0.005)
    assert (res["n_responders"] == 19).all() and (res["n_nonresponders"] == 19).all()
    assert (res["fdr"] >= res["p"]).all()


def test_auc_properties() -> None:
    pos, neg = np.array([3.0, 4.0, 5.0]), np.array([1.0, 2.0, 3.0])
    auc, _ = auc_delong(pos, neg)
    assert auc == pytest.approx((9 - 0.5) / 9)  # one tie (3 vs 3) counts 1/2
    assert auc_delong(neg, pos)[0] == pytest.approx(1 - auc)
    roc = roc_curve(pos, neg)
    assert roc["fpr"].iloc[-1] == 1.0 and roc["tpr"].iloc[-1] == 1.0
    # trapezoidal area under the empirical ROC = Mann-Whitney AUC
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(auc)


def test_logistic_and_fdr_on_simulated_truth() -> None:
    sim = simulate_cohort(150, 20, seed=2)
    cl = sim.clinical.set_index("sample")
    y = cl["response"].map({"R": 1.0, "NR": 0.0})
    feats = {"CXCL9": sim.expression.loc["CXCL9"], "BG0001": sim.expression.loc["BG0001"]}
    res = response_association(feats, y, cl[["age"]]).table.set_index("biomarker")
    assert res.loc["CXCL9", "AUC"] > 0.7 and res.loc["CXCL9", "OR"] > 1
    assert res.loc["CXCL9", "logit_p"] < 1e-4
    assert 0.35 < res.loc["BG0001", "AUC"] < 0.65
    assert bh_fdr(np.array([0.01, 0.04, np.nan]))[2] != bh_fdr(np.array([0.01, 0.04, np.nan]))[2]


def test_missing_labels_excluded_and_counted() -> None:
    x = pd.Series([1.0, 2, 3, 4, 5, np.nan], index=list("abcdef"))
    y = pd.Series([0.0, 0, np.nan, 1, 1, 1], index=list("abcdef"))
    r = response_association({"g": x}, y, logistic=False).table.iloc[0]
    assert (r["n"], r["n_excluded"], r["n_responders"]) == (4, 2, 2)
    with pytest.raises(InputError):
        response_association({"g": x}, pd.Series([0.0, 2, 1, 1, 0, 1], index=list("abcdef")))
