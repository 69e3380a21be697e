"""Cohort readers: CSV/TSV/Parquet/AnnData and the shared clinical collection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensitize.cohort.simulate import simulate_cohort
from sensitize.core.errors import InputError
from sensitize.io.cohort import (
    cohort_to_anndata,
    read_cohort,
    read_expression,
    read_shared_cohort,
)
from tests.conftest import shared_file

SIM = simulate_cohort(25, 10, seed=3)


@pytest.mark.parametrize("fmt", ["csv", "tsv.gz", "parquet"])
def test_roundtrip_formats(tmp_path: Path, fmt: str) -> None:
    e = SIM.expression.reset_index()
    e.insert(1, "description", "x")  # an extra annotation column is ignored
    c = SIM.clinical
    if fmt == "csv":
        e.to_csv(tmp_path / "e.csv", index=False)
        c.to_csv(tmp_path / "c.csv", index=False)
        ep, cp = tmp_path / "e.csv", tmp_path / "c.csv"
    elif fmt == "tsv.gz":
        e.to_csv(tmp_path / "e.tsv.gz", sep="\t", index=False)
        c.to_csv(tmp_path / "c.tsv", sep="\t", index=False)
        ep, cp = tmp_path / "e.tsv.gz", tmp_path / "c.tsv"
    else:
        e.to_parquet(tmp_path / "e.parquet")
        c.to_parquet(tmp_path / "c.parquet")
        ep, cp = tmp_path / "e.parquet", tmp_path / "c.parquet"
    coh = read_cohort(ep, cp)
    assert coh.expression.shape == SIM.expression.shape
    np.testing.assert_allclose(coh.expression.loc["CXCL9"], SIM.expression.loc["CXCL9"])
    assert coh.report["expression_reader"]["ignored_columns"] == ["description"]


def test_anndata_roundtrip(tmp_path: Path) -> None:
    from sensitize.cohort.data import build_cohort

    coh = build_cohort(SIM.expression, SIM.clinical)
    ad = cohort_to_anndata(coh)
    ad.write_h5ad(tmp_path / "c.h5ad")
    back = read_cohort(tmp_path / "c.h5ad")
    np.testing.assert_allclose(back.expression.loc["CXCL9"], coh.expression.loc["CXCL9"])
    assert set(back.endpoints) == {"os", "pfs"}


def test_non_numeric_expression_error(tmp_path: Path) -> None:
    e = SIM.expression.reset_index()
    e["S002"] = e["S002"].astype(object)
    e.loc[3, "S002"] = "high"
    e.to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(InputError, match="non-numeric") as ei:
        read_expression(tmp_path / "e.csv")
    assert ei.value.rows == [4] and ei.value.column == "S002"


@pytest.mark.reference
def test_shared_gide_converted_to_log2_tpm1() -> None:
    c = read_shared_cohort(shared_file("clinical", "Gide2019_melanoma_antiPD1"))
    assert c.unit.startswith("log2(TPM + 1)")
    assert c.report["sample_col"] == "sample"
    assert c.response is not None and c.response.describe()["n_missing"] == 3
    from tests.cohort._ref import feature_values

    ref = feature_values("Gide2019_melanoma_antiPD1", "CXCL9")
    np.testing.assert_allclose(c.feature("CXCL9").loc[ref.index], ref, atol=2e-4)


@pytest.mark.reference
def test_shared_cohorts_with_other_layouts() -> None:
    # numeric sample IDs, DFS endpoint, microarray scale kept
    h = read_shared_cohort(shared_file("clinical", "Hatzis2011_GSE25055_TNBC_neoadjuvant_TNBC.CMS"))
    assert len(h.samples) == 73 and set(h.endpoints) == {"dfs"}
    assert h.endpoints["dfs"].unit == "months" and h.unit.startswith("log2")
    # metastasis yes/no as the outcome with explicit labels
    k = read_shared_cohort(shared_file("clinical", "Kuijjer_GSE42352_osteosarcoma_lionessR"),
                           response_col="mets", responder_labels=["no"], nonresponder_labels=["yes"])
    assert k.response is not None and k.response.describe()["n_nonresponders"] == 34
    # several subsets in one folder need a choice
    with pytest.raises(InputError, match="subset"):
        read_shared_cohort(shared_file("clinical", "Mariathasan2018_IMvigor210_PredictioR"))
    m = read_shared_cohort(shared_file("clinical", "Mariathasan2018_IMvigor210_PredictioR"),
                           subset="Lymph_node")
    assert len(m.samples) == 26
    # IOBR IMvigor210: ID column, OS_days/OS_status, BOR_binary
    i = read_cohort(
        shared_file("clinical", "IMvigor210_Mariathasan2018_dualmarker_IOBR",
                    "IOBR_imvigor210_eset_voom_872genes.csv.gz"),
        shared_file("clinical", "IMvigor210_Mariathasan2018_dualmarker_IOBR", "IOBR_imvigor210_pdata.csv"),
    )
    assert len(i.samples) == 348 and i.endpoints["os"].unit == "days"
    assert i.response is not None and i.response.column == "BOR_binary"
    # Riaz censoring flags (1 = censored) named with *_SOR, days
    clin = pd.read_csv(shared_file("clinical", "Riaz2017_melanoma_nivolumab", "riazn_bms038_clinical_data.csv"))
    assert "OS_SOR" in clin.columns
