"""Readers for drug-combination screen files (sensitize.io.screen), on the real files of
``../shared/data/screen`` and on small files written here to exercise bad input."""

from __future__ import annotations

import gzip
import io
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensitize.core.errors import InputError
from sensitize.io._text import read_frame, read_text, sniff_decimal, sniff_delimiter
from sensitize.io.screen import (
    detect_format,
    read_almanac,
    read_drugcomb_template,
    read_ncats_matrix,
    read_oneil_raw,
    read_screen,
    read_synergy_py,
    read_synergyfinder_matrix,
    read_synergyfinder_table,
    read_table,
)
from tests.conftest import shared_file

CELL = ["block_id", "conc1", "conc2"]


def scr(*parts: str) -> Path:
    return shared_file("screen", *parts)


@cache
def _cached(rel: str, kind: str | None) -> pd.DataFrame:
    return read_screen(scr(*rel.split("/")), response_kind=kind)


def cached(rel: str, kind: str | None = None) -> pd.DataFrame:
    return _cached(rel, kind).copy()


# ---------------------------------------------------------------------------------------
# every real screen file loads with the right reader (or read_table + mapping)
# ---------------------------------------------------------------------------------------

_DIP = {
    "block_id": ["expt.id", "cell.line", "drug1", "drug2"],
    "drug1": "drug1", "drug2": "drug2", "conc1": "drug1.conc", "conc2": "drug2.conc",
    "conc_unit1": "drug1.units", "conc_unit2": "drug2.units", "response": "rate",
    "cell_line": "cell.line", "plate": "plate.name", "well": "well",
}

# (file, format detected or None for read_table, kwargs, rows, blocks, drugs)
REAL: list[tuple[str, str | None, dict[str, Any], int, int, int]] = [
    ("synergyfinder_bioc/mathews_screening_data.csv", "synergyfinder_table", {"response_kind": "viability"}, 72, 2, 2),
    ("synergyfinder_bioc/ONEIL_screening_data.csv", "synergyfinder_table", {"response_kind": "inhibition"}, 200, 2, 2),
    ("synergyfinder_bioc/NCATS_screening_data.csv", "synergyfinder_table", {"response_kind": "viability"}, 2400, 2, 3),
    ("synergyfinder_examples/mathews_screening_data.csv", "synergyfinder_table", {"response_kind": "viability"}, 72, 2, 2),
    ("synergyfinder_examples/ONEIL_screening_data.csv", "synergyfinder_table", {"response_kind": "inhibition"}, 200, 2, 2),
    ("synergyfinder_examples/NCATS_screening_data_malaria_3drug.csv", "synergyfinder_table", {"response_kind": "viability"}, 2400, 2, 3),
    ("synergyfinder_web_examples/ONEILTable.csv", "synergyfinder_table", {"response_kind": "inhibition"}, 200, 2, 2),
    ("synergyfinder_web_examples/NCATSTable.csv", "synergyfinder_table", {"response_kind": "viability"}, 2400, 2, 3),
    ("synergyfinder_web_examples/ONEILMatrix.csv", "synergyfinder_matrix", {"response_kind": "inhibition"}, 50, 2, 2),
    ("synergyfinder_examples/synergyfinder_web_exampleTable_6blocks.csv", "synergyfinder_table", {"response_kind": "inhibition"}, 384, 6, 2),
    ("synergyfinder_examples/synergyfinder_web_exampleMatrix.csv", "synergyfinder_matrix", {"response_kind": "inhibition"}, 84, 2, 2),
    ("decrease_ianevski2019/192_combinations_breast_8x8_viability.csv.gz", "synergyfinder_table", {"response_kind": "viability"}, 12288, 192, 2),
    ("synergyfinder_reference/decrease192_input.csv", "synergyfinder_table", {"response_kind": "viability"}, 12288, 192, 2),
    ("reference_outputs_synthetic/djwooten_synergy_vs_synergyfinder_braid/1/dataset_1.csv", "synergyfinder_table", {"response_kind": "viability"}, 99, 1, 2),
    ("reference_outputs_synthetic/djwooten_synergy_vs_synergyfinder_braid/2/dataset_2.csv", "synergyfinder_table", {"response_kind": "viability"}, 99, 1, 2),
    ("reference_outputs_synthetic/djwooten_synergy_vs_synergyfinder_braid/3/dataset_3.csv", "synergyfinder_table", {"response_kind": "viability"}, 99, 1, 2),
    ("tidycomb_drugcomb/inst_template_HEAD.csv", "drugcomb_template", {}, 123, 7, 2),
    ("tidycomb_drugcomb/extdata_template.csv", "drugcomb_template", {}, 123, 7, 2),
    ("tidycomb_drugcomb/tests_synergy_response.csv", "synergyfinder_table", {"response_kind": "inhibition"}, 36, 1, 2),
    ("synergyfinder_bioc/responses.csv", "ncats_matrix", {"response_kind": "viability"}, 1200, 12, 2),
    ("synergyfinder_examples/NCATS_10023_malaria_raw/metadata.csv", "ncats_matrix", {"response_kind": "viability"}, 1200, 12, 2),
    ("coregx_subsets/oneil_drug_combo_merck_small.csv", "oneil_raw", {}, 1999, 32, 2),
    ("coregx_subsets/oneil_merckLongTable.csv", "oneil_raw", {}, 15100, 1374, 2),
    ("coregx_subsets/nci_almanac_TRE_small_long.csv.gz", "almanac", {}, 9537, 2539, 2),
    ("grosfils_almanac_A549_triplets/ALMANAC_ALL_INTEREST.csv", "almanac", {}, 45, 3, 2),
    ("synergy_py/datasets/2d.csv", "synergy_py", {}, 108, 1, 2),
    ("synergy_py/datasets/3d.csv", "synergy_py", {}, 648, 1, 3),
    ("synergy_py/datasets/4d.csv", "synergy_py", {}, 3888, 1, 4),
    ("synergy_py/datasets/sham_2d.csv", "synergy_py", {}, 108, 1, 2),
    ("synergy_py/datasets/sham_3d.csv", "synergy_py", {}, 648, 1, 3),
    ("synergy_py/tests_combination/synthetic_BRAID_asymmetric_1.csv", "synergy_py", {}, 100, 1, 2),
    ("synergy_py/tests_combination/synthetic_musyc_reference_1.csv", "synergy_py", {}, 108, 1, 2),
    ("synergy_py/tests_combination/synthetic_EDM_synergy_1.csv", "synergy_py", {}, 100, 1, 2),
    ("synergy_py/tests_higher/synthetic_musyc3_reference_1.csv", "synergy_py", {}, 1029, 1, 3),
    ("synergy_py/tests_higher/synthetic_bliss3_linear_reference.csv", "synergy_py", {"allow_missing_response": True}, 1029, 1, 3),
    # generic tables with a column mapping
    ("mathews_griner2014_ncats_assay241/mathews_assay241_long_nM.csv.gz", None, {
        "mapping": {"drug1": "drug_row", "drug2": "drug_col", "conc1": "conc_r_nM", "conc2": "conc_c_nM",
                    "response": "viability_pct"}, "response_kind": "viability"}, 16776, 466, 2),
    ("musyc_meyer2019_dip/raw/HTS015_017_Combined.csv.gz", None, {
        "mapping": _DIP, "response_kind": "viability", "readout": "dip_rate"}, 4093, 74, 2),
    ("musyc_meyer2019_dip/raw/HTS018_rates.csv.gz", None, {
        "mapping": _DIP, "response_kind": "viability", "readout": "dip_rate"}, 7756, 60, 2),
    ("musyc_meyer2019_dip/raw/HTS022_timeavg_rates_sub2.csv.gz", None, {
        "mapping": _DIP, "response_kind": "viability", "readout": "dip_rate"}, 8928, 200, 2),
    ("musyc_meyer2019_dip/raw/cellavista_combined.csv", None, {
        "mapping": {"block_id": ["cell.line", "drug1", "drug2"], "drug1": "drug1", "drug2": "drug2",
                    "conc1": "drug1.conc", "conc2": "drug2.conc", "response": "rate", "cell_line": "cell.line"},
        "constants": {"conc_unit": "M"}, "response_kind": "viability", "readout": "dip_rate"}, 229, 2, 2),
    ("musyc_meyer2019_dip/raw/03-27-2018-dpi+plx_cm_bp_timeavg_preCalcDIP_timSub.csv", None, {
        "mapping": {"block_id": ["cell.line", "drug1", "drug2", "upid"], "drug1": "drug1", "drug2": "drug2",
                    "conc1": "drug1.conc", "conc2": "drug2.conc", "conc_unit1": "drug1.units",
                    "conc_unit2": "drug2.units", "response": "rate", "cell_line": "cell.line", "well": "well",
                    "plate": "upid"},
        "response_kind": "viability", "readout": "dip_rate", "allow_missing_response": True}, 1232, 16, 2),
    ("musyc_meyer2019_dip/other_metrics/HTS015_Per_viability_72hr_transformed.csv.gz", None, {
        "mapping": {**_DIP, "response": "per_via"}, "response_kind": "viability", "response_scale": 100.0},
        3696, 55, 2),
    ("r_package_examples/BIGL/directAntivirals.csv", None, {
        "mapping": {"block_id": "experiment", "drug1": "cpd1", "drug2": "cpd2", "conc1": "d1", "conc2": "d2",
                    "response": "effect"}, "response_kind": "viability", "readout": "cell_count"}, 3520, 11, 2),
    ("r_package_examples/BIGL/directAntivirals_ALL.csv", None, {
        "mapping": {"block_id": "experiment", "drug1": "cpd1", "drug2": "cpd2", "conc1": "d1", "conc2": "d2",
                    "response": "effect"}, "response_kind": "viability", "readout": "cell_count"}, 4224, 11, 2),
    ("r_package_examples/drugCombo/checkerboardData.csv.gz", None, {
        "mapping": {"block_id": "exp", "conc1": "d1", "conc2": "d2", "response": "effect", "plate": "plate"},
        "constants": {"drug1": "compound A", "drug2": "compound B"}, "response_kind": "viability",
        "allow_missing_response": True}, 10320, 11, 2),
    ("r_package_examples/drugCombo/rayData.csv", None, {
        "mapping": {"conc1": "d1", "conc2": "d2", "response": "effect"},
        "constants": {"drug1": "compound A", "drug2": "compound B"}, "response_kind": "viability"}, 378, 1, 2),
    ("grosfils_almanac_A549_triplets/A549_paper_triplets_dox_taxol_cisplatin.csv", None, {
        "mapping": {"conc1": "Doxorubicin", "conc2": "Taxol", "conc3": "Cisplatin", "response": "Experiments"},
        "constants": {"drug1": "doxorubicin", "drug2": "paclitaxel", "drug3": "cisplatin", "conc_unit": "uM",
                      "cell_line": "A549"}, "response_kind": "viability", "response_scale": 100.0}, 280, 1, 3),
    ("tidycomb_drugcomb/tests_template.csv", None, {
        "mapping": {"conc1": "conc_r", "conc2": "conc_c"},
        "constants": {"drug1": "5-FU", "drug2": "ABT-888", "conc_unit": "uM"}, "response_kind": "inhibition"},
        25, 1, 2),
    ("tidycomb_drugcomb/tests_response_test.csv", None, {
        "mapping": {"conc1": "conc_r", "conc2": "conc_c"},
        "constants": {"drug1": "drug row", "drug2": "drug col"}, "response_kind": "inhibition"}, 100, 1, 2),
    ("tidycomb_drugcomb/vignette_block1_per_cell_scores.csv", None, {
        "mapping": {"conc1": "conc_r", "conc2": "conc_c", "response": "inhibition"},
        "constants": {"drug1": "5-FU", "drug2": "ABT-888", "conc_unit": "uM"}, "response_kind": "inhibition"},
        25, 1, 2),
]


@pytest.mark.parametrize(("rel", "fmt", "kw", "n_rows", "n_blocks", "n_drugs"), REAL, ids=[r[0] for r in REAL])
def test_real_screen_files_load(rel: str, fmt: str | None, kw: dict[str, Any], n_rows: int, n_blocks: int, n_drugs: int) -> None:
    path = scr(*rel.split("/"))
    if fmt is not None:
        assert detect_format(path) == fmt
        df = cached(rel, kw["response_kind"]) if set(kw) <= {"response_kind"} and kw else (
            cached(rel) if not kw else read_screen(path, **kw)
        )
        assert df.attrs["format"] == fmt
    else:
        kw = dict(kw)
        df = read_table(path, kw.pop("mapping"), **kw)
        assert df.attrs["format"] == "table"
    assert df.attrs["source"] == (path.name if fmt != "ncats_matrix" else "responses.csv")
    assert len(df) == n_rows
    assert df["block_id"].nunique() == n_blocks
    ks = list(range(1, n_drugs + 1))
    assert [c for c in df.columns if c.startswith("drug")] == [f"drug{k}" for k in ks]
    assert df.columns[: 1 + 3 * n_drugs].tolist() == (
        ["block_id"] + [f"drug{k}" for k in ks] + [f"conc{k}" for k in ks] + [f"conc_unit{k}" for k in ks]
    )
    for k in ks:
        c = df[f"conc{k}"].to_numpy()
        assert c.dtype == float and np.isfinite(c).all() and (c >= 0).all()
        # one unit per drug
        units = df.dropna(subset=[f"drug{k}"]).groupby(f"drug{k}")[f"conc_unit{k}"].nunique(dropna=False)
        assert (units <= 1).all()
    assert df["response_kind"].isin(["viability", "inhibition"]).all()
    assert df["replicate"].min() == 1
    # replicates are unique per block, readout and dose cell
    keys = ["block_id", "readout", "replicate"] + [f"conc{k}" for k in ks]
    assert not df.duplicated(keys).any()


# ---------------------------------------------------------------------------------------
# NCATS export: the Mathews Griner assay 241 set equals SynergyFinder's input exactly
# ---------------------------------------------------------------------------------------


def test_ncats_assay241_with_factor_2_equals_synergyfinder_input() -> None:
    nc = read_ncats_matrix(
        scr("mathews_griner2014_ncats_assay241", "responses.csv.gz"),
        scr("mathews_griner2014_ncats_assay241", "metadata.csv"),
        conc_factor=2,
        conc_unit="nM",
        response_kind="viability",
    )
    sf = read_synergyfinder_table(scr("synergyfinder_reference", "mathews466_input.csv"), response_kind="viability")
    a = nc.sort_values(CELL).reset_index(drop=True)
    b = sf.sort_values(CELL).reset_index(drop=True)
    assert len(a) == len(b) == 16776
    assert a["block_id"].nunique() == 466
    assert a["block_id"].tolist() == b["block_id"].tolist()
    # exact equality of concentrations and responses
    np.testing.assert_array_equal(a[["conc1", "conc2", "response"]].to_numpy(), b[["conc1", "conc2", "response"]].to_numpy())
    assert (a["conc_unit1"] == "nM").all() and (a["conc_unit2"] == "nM").all()
    # the row drug is the library drug, the column drug ibrutinib (PCI-32765)
    assert (a["drug1"].str.lower() == b["drug1"].str.lower()).mean() > 0.95
    assert set(a["drug2"]) == {"PCI-32765"}
    # and blocks 19 and 45 are SynergyFinder's mathews_screening_data blocks 1 and 2
    ex = read_synergyfinder_table(scr("synergyfinder_bioc", "mathews_screening_data.csv"), response_kind="viability")
    for nb, eb in ((19, 1), (45, 2)):
        x = a[a.block_id == nb].sort_values(["conc1", "conc2"])
        y = ex[ex.block_id == eb].sort_values(["conc1", "conc2"])
        np.testing.assert_array_equal(x[["conc1", "conc2", "response"]].to_numpy(), y[["conc1", "conc2", "response"]].to_numpy())


def test_ncats_assay241_without_factor_is_half() -> None:
    nc = read_ncats_matrix(
        scr("mathews_griner2014_ncats_assay241", "responses.csv.gz"), conc_unit="nM", response_kind="viability"
    )
    b1 = nc[nc.block_id == 1]
    assert b1["conc1"].max() == 1250.0 and b1["conc2"].max() == 25.0


def test_ncats_10023_export_convention() -> None:
    df = read_ncats_matrix(scr("synergyfinder_bioc", "responses.csv"), response_kind="viability")
    assert df.attrs["format"] == "ncats_matrix"
    assert df.groupby("block_id").size().eq(100).all() and df["block_id"].nunique() == 12
    assert set(df["drug1"]) == {"Pyronaridine Tetraphosphate"} and set(df["drug2"]) == {"Artesunate"}
    assert (df["conc_unit1"] == "uM").all()
    assert (df["replicate"] == 1).all()  # 'Replicate' values read as '1default'
    raw = pd.read_csv(scr("synergyfinder_bioc", "responses.csv"))
    # Row 1 / Col 1 is the highest dose of both drugs; Row 10 / Col 10 the zero dose
    first = raw[(raw.BlockId == 1) & (raw.Row == 1) & (raw.Col == 1)].Value.iloc[0]
    last = raw[(raw.BlockId == 1) & (raw.Row == 10) & (raw.Col == 10)].Value.iloc[0]
    b1 = df[df.block_id == 1]
    assert b1.loc[(b1.conc1 == 0.075) & (b1.conc2 == 0.2), "response"].iloc[0] == first
    assert b1.loc[(b1.conc1 == 0) & (b1.conc2 == 0), "response"].iloc[0] == last
    # the copy in synergyfinder_examples is identical
    other = read_screen(scr("synergyfinder_examples", "NCATS_10023_malaria_raw", "responses.csv"), response_kind="viability")
    pd.testing.assert_frame_equal(df, other, check_like=False)


def test_ncats_requires_response_kind() -> None:
    with pytest.raises(InputError) as e:
        read_ncats_matrix(scr("synergyfinder_bioc", "responses.csv"))
    assert e.value.file == "responses.csv" and e.value.column == "Value"


# ---------------------------------------------------------------------------------------
# format semantics
# ---------------------------------------------------------------------------------------


def test_synergyfinder_old_and_new_names() -> None:
    old = cached("synergyfinder_bioc/mathews_screening_data.csv", "viability")
    assert old.loc[0, ["drug1", "drug2", "conc1", "conc2", "response"]].tolist() == ["ispinesib", "ibrutinib", 2500.0, 50.0, 7.802637]
    assert set(old["conc_unit1"]) == {"nM"} and "cell_line" not in old.columns
    new = cached("synergyfinder_bioc/ONEIL_screening_data.csv", "inhibition")
    assert set(new["cell_line"]) == {"OCUBM", "NCIH2122"}
    assert set(new["conc_unit2"]) == {"uM"}
    # four replicates per dose cell, numbered in file order
    assert new.groupby(CELL)["replicate"].apply(lambda s: sorted(s) == [1, 2, 3, 4]).all()
    # CRLF copy of the web app reads identically
    web = cached("synergyfinder_web_examples/ONEILTable.csv", "inhibition")
    pd.testing.assert_frame_equal(new.drop(columns=[]), web)


def test_three_drug_tables() -> None:
    a = cached("synergyfinder_bioc/NCATS_screening_data.csv", "viability")
    b = cached("synergyfinder_web_examples/NCATSTable.csv", "viability")
    assert {"drug3", "conc3", "conc_unit3"} <= set(a.columns)
    pd.testing.assert_frame_equal(a, b)
    assert a.groupby("block_id").size().eq(1200).all()


def test_matrix_layout_matches_table() -> None:
    m = cached("synergyfinder_web_examples/ONEILMatrix.csv", "inhibition")
    t = cached("synergyfinder_web_examples/ONEILTable.csv", "inhibition")
    assert set(m["drug2"]) == {"Nirapparib", "L-778123 free base"}  # spelled so in the file
    assert set(m["cell_line"]) == {"OCUBM", "NCIH2122"}  # 'Cell' and 'Cell:' lines
    mean = t.groupby(CELL, as_index=False)["response"].mean().sort_values(CELL)
    mm = m.sort_values(CELL)
    # the web app's matrix holds the mean of the four replicates; rows = Drug1
    np.testing.assert_allclose(mm[CELL].to_numpy(float), mean[CELL].to_numpy(float))
    np.testing.assert_allclose(mm["response"].to_numpy(), mean["response"].to_numpy(), atol=1e-6)

    m2 = cached("synergyfinder_examples/synergyfinder_web_exampleMatrix.csv", "inhibition")
    t2 = cached("synergyfinder_examples/synergyfinder_web_exampleTable_6blocks.csv", "inhibition")
    x = m2[m2.block_id == 1].sort_values(CELL)
    y = t2[t2.block_id == 1].sort_values(CELL)
    assert x["drug1"].iloc[0] == "AT-406" and x["drug2"].iloc[0] == "Navitoclax"
    np.testing.assert_allclose(x[["conc1", "conc2", "response"]].to_numpy(), y[["conc1", "conc2", "response"]].to_numpy(), atol=1e-8)
    assert m2[m2.block_id == 2].shape[0] == 20  # 5 x 4 second block


def test_bare_labelled_matrix() -> None:
    p = scr("tidycomb_drugcomb", "tests_synergy_response_mat_matrix.csv")
    with pytest.raises(InputError, match="drug1= and drug2="):
        read_synergyfinder_matrix(p, response_kind="inhibition")
    m = read_synergyfinder_matrix(p, drug1="BENDAMUSTINE", drug2="IBRUTINIB", conc_unit="uM", response_kind="inhibition")
    t = read_synergyfinder_table(scr("tidycomb_drugcomb", "tests_synergy_response.csv"), response_kind="inhibition")
    np.testing.assert_allclose(
        m.sort_values(["conc1", "conc2"])[["conc1", "conc2", "response"]].to_numpy(),
        t.sort_values(["conc1", "conc2"])[["conc1", "conc2", "response"]].to_numpy(),
    )


def test_blank_line_separates_bare_matrices(tmp_path: Path) -> None:
    p = _write(tmp_path, ",0,10\n0,1,2\n5,3,4\n\n,0,10\n0,5,6\n5,7,8\n", "bare.csv")
    m = read_synergyfinder_matrix(p, drug1="A", drug2="B", response_kind="inhibition")
    assert m.groupby("block_id")["response"].apply(list).to_dict() == {1: [1, 2, 3, 4], 2: [5, 6, 7, 8]}


def test_drugcomb_templates() -> None:
    a = cached("tidycomb_drugcomb/inst_template_HEAD.csv")
    b = cached("tidycomb_drugcomb/extdata_template.csv")
    assert (a["response_kind"] == "inhibition").all()
    assert a.attrs["response_kind_source"] == "format"
    k = ["block_id", "drug1", "drug2", "conc1", "conc2"]
    pd.testing.assert_frame_equal(
        a.sort_values(k).reset_index(drop=True)[[*k, "response", "cell_line"]],
        b.sort_values(k).reset_index(drop=True)[[*k, "response", "cell_line"]],
    )
    assert sorted(a["block_id"].unique().tolist()) == [1, 2, 7641, 62898, 62899, 62900, 64716]
    # the format defines inhibition: a contradicting kind is an error naming the column
    with pytest.raises(InputError) as e:
        read_drugcomb_template(scr("tidycomb_drugcomb", "inst_template_HEAD.csv"), response_kind="viability")
    assert e.value.column == "inhibition" and e.value.file == "inst_template_HEAD.csv"


def test_oneil_raw_formats() -> None:
    df = cached("coregx_subsets/oneil_drug_combo_merck_small.csv")
    raw = pd.read_csv(scr("coregx_subsets", "oneil_drug_combo_merck_small.csv"))
    assert df.attrs["format"] == "oneil_raw"
    assert (df["response_kind"] == "viability").all() and (df["readout"] == "viability").all()
    assert set(df["conc_unit1"]) == {"uM"}  # from the header 'drugA Conc (µM)'
    # viability fractions x 100, replicate n from viability n
    r0 = raw.iloc[0]
    first = df[(df.block_id == "5-FU & ABT-888|A2058|1") & (df.conc1 == r0["drugA Conc (µM)"]) & (df.conc2 == r0["drugB Conc (µM)"])]
    np.testing.assert_allclose(first.sort_values("replicate")["response"], 100 * r0[["viability1", "viability2", "viability3", "viability4"]].astype(float))
    assert any("1 empty viability replicate" in n for n in df.attrs["notes"])
    assert df.groupby("block_id").size().value_counts().to_dict() == {64: 30, 63: 1, 16: 1}
    lt = cached("coregx_subsets/oneil_merckLongTable.csv")
    assert set(lt["cell_line"]) == {"A2058", "A2780", "A375", "A427", "CAOV3"}
    with pytest.raises(InputError, match="contradicts"):
        read_oneil_raw(scr("coregx_subsets", "oneil_drug_combo_merck_small.csv"), response_kind="inhibition")


def test_almanac_blocks_and_monotherapies() -> None:
    g = cached("grosfils_almanac_A549_triplets/ALMANAC_ALL_INTEREST.csv")
    assert g.attrs["format"] == "almanac"
    assert (g["response_kind"] == "viability").all() and (g["readout"] == "percentgrowth").all()
    assert set(g["conc_unit1"].dropna()) == {"M"}
    blk = g[g.block_id == "NSC123127 + NSC125973|A549/ATCC|CD040CP38A549"]
    assert len(blk) == 15
    mono1 = blk[blk.conc2 == 0].sort_values("conc1")
    assert mono1["response"].tolist() == [102.30, 96.01, 43.92]
    mono2 = blk[blk.conc1 == 0].sort_values("conc2")
    assert mono2["response"].tolist() == [97.74, 96.70, 97.96]
    # cisplatin's single-agent wells on plate CD086CP130BA549 serve both of its pairs
    cis = g[(g.drug1 == "NSC119875") & (g.conc2 == 0)]
    assert cis["block_id"].nunique() == 2 and len(cis) == 6

    a = cached("coregx_subsets/nci_almanac_TRE_small_long.csv.gz")
    combo = a[(a.conc1 > 0) & (a.conc2 > 0)]
    assert len(combo) == 1368 and combo["block_id"].nunique() == 152
    assert combo.groupby("block_id").size().eq(9).all()
    # no row lost: every file row is a combination, a block's single agent or a single-drug block
    assert (a["drug2"].isna()).sum() + len(combo) + (a.drug2.notna() & ((a.conc1 == 0) | (a.conc2 == 0))).sum() == len(a)
    assert a.loc[a.drug2.isna()].shape[0] == 7257
    pooled = read_almanac(scr("grosfils_almanac_A549_triplets", "ALMANAC_ALL_INTEREST.csv"), per_plate=False)
    assert pooled["block_id"].nunique() == 3
    notz = read_almanac(scr("grosfils_almanac_A549_triplets", "ALMANAC_ALL_INTEREST.csv"), value="PERCENTGROWTHNOTZ")
    assert (notz["readout"] == "percentgrowthnotz").all()


def test_synergy_py_files() -> None:
    d = cached("synergy_py/datasets/3d.csv")
    raw = pd.read_csv(scr("synergy_py", "datasets", "3d.csv"))
    np.testing.assert_allclose(d["response"].to_numpy(), 100 * raw["E"].to_numpy())
    assert d[["drug1", "drug2", "drug3"]].iloc[0].tolist() == ["drug1", "drug2", "drug3"]
    named = read_synergy_py(scr("synergy_py", "datasets", "2d.csv"), drugs=["A", "B"], conc_unit="uM", block_id="x")
    assert set(named["drug1"]) == {"A"} and set(named["block_id"]) == {"x"} and set(named["conc_unit2"]) == {"uM"}
    with pytest.raises(InputError, match="single-drug"):
        read_synergy_py(scr("synergy_py", "datasets", "hill.csv"))


def test_four_drug_table_and_identifiers(tmp_path: Path) -> None:
    rows = ["block_id,drug1,drug2,drug3,drug4,conc1,conc2,conc3,conc4,response,conc_unit1,conc_unit2,conc_unit3,conc_unit4"]
    for i, (a, b, c, d) in enumerate(np.ndindex(2, 2, 2, 2)):
        rows.append(f"007,W,X,Y,Z,{a},{b},{c},{d},{100 - 5 * i},uM,nM,uM,M")
    p = _write(tmp_path, "\n".join(rows) + "\n", "four.csv")
    df = read_screen(p, response_kind="viability")
    assert [f"conc_unit{k}" for k in range(1, 5)] == [c for c in df.columns if c.startswith("conc_unit")]
    assert set(df["block_id"]) == {"007"}  # the input's own block id, leading zeros kept
    assert df.loc[15, ["conc1", "conc2", "conc3", "conc4"]].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert df["conc_unit4"].iloc[0] == "M"


def test_units_harmonised_per_drug(tmp_path: Path) -> None:
    p = tmp_path / "mixed.csv"
    p.write_text(
        "block_id,drug1,drug2,conc1,conc2,response,conc_unit1,conc_unit2\n"
        "1,A,B,0,0,100,uM,nM\n1,A,B,1,0,80,uM,nM\n1,A,B,0,10,70,uM,nM\n"
        "2,A,B,0,0,100,nM,nM\n2,A,B,500,0,90,nM,nM\n2,A,B,0,10,70,nM,nM\n3,A,B,1000,1,50,nM,uM\n"
    )
    df = read_synergyfinder_table(p, response_kind="viability")
    assert set(df["conc_unit1"]) == {"nM"} and set(df["conc_unit2"]) == {"nM"}
    assert df.loc[1, "conc1"] == 1000.0 and df.loc[6, "conc2"] == 1000.0
    um = read_synergyfinder_table(p, response_kind="viability", target_unit="uM")
    assert um.loc[4, "conc1"] == 0.5 and set(um["conc_unit1"]) == {"uM"}
    f = read_synergyfinder_table(p, response_kind="viability", conc_factor=2.0)
    assert f.loc[1, "conc1"] == 2000.0


# ---------------------------------------------------------------------------------------
# text quirks: BOM, ';', decimal commas, CR line endings, gzip, two-row headers, Excel, Parquet
# ---------------------------------------------------------------------------------------


def test_text_sniffing_on_real_files() -> None:
    text, info = read_text(scr("synergyfinder_web_examples", "ONEILMatrix.csv"))
    assert info.bom and info.newline == "\r\n" and text.startswith("Drug1:")
    text, info = read_text(scr("grosfils_almanac_A549_triplets", "A549_paper_triplets_dox_taxol_cisplatin.csv"))
    assert sniff_delimiter(text) == ";" and sniff_decimal(text, ";") == "."
    _, info = read_text(scr("decrease_ianevski2019", "192_combinations_breast_8x8_viability.csv.gz"))
    assert info.gzip
    df = read_frame(scr("grosfils_almanac_A549_triplets", "A549_paper_triplets_dox_taxol_cisplatin.csv"))
    assert "Experiments" in df.columns  # trailing space in the header stripped


def _variant(src: Path, dst: Path, *, sep: str, decimal: str, newline: str, bom: bool, gz: bool) -> None:
    df = pd.read_csv(src)
    buf = io.StringIO()
    df.to_csv(buf, sep=sep, decimal=decimal, index=False, lineterminator=newline)
    data = ("\ufeff" if bom else "") + buf.getvalue()
    raw = data.encode("utf-8")
    dst.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize(
    ("sep", "decimal", "newline", "bom", "gz"),
    [(";", ",", "\r", True, False), ("\t", ".", "\r\n", False, True), (";", ",", "\n", True, True), ("|", ".", "\r", False, False)],
)
def test_text_variants_read_identically(tmp_path: Path, sep: str, decimal: str, newline: str, bom: bool, gz: bool) -> None:
    src = scr("synergyfinder_bioc", "ONEIL_screening_data.csv")
    dst = tmp_path / ("variant.csv.gz" if gz else "variant.txt")
    _variant(src, dst, sep=sep, decimal=decimal, newline=newline, bom=bom, gz=gz)
    assert detect_format(dst) == "synergyfinder_table"
    got = read_screen(dst, response_kind="inhibition")
    ref = cached("synergyfinder_bioc/ONEIL_screening_data.csv", "inhibition")
    pd.testing.assert_frame_equal(got.drop(columns=[]), ref, check_exact=True)


def test_two_row_header_with_units(tmp_path: Path) -> None:
    p = tmp_path / "two_rows.csv"
    p.write_text(
        "block,drug A,drug B,dose A,dose B,viability\n"
        ",,,µM,nM,%\n"
        "1,X,Y,0,0,100\n1,X,Y,1,0,80\n1,X,Y,0,5,90\n1,X,Y,1,5,40\n"
    )
    mp = {"block_id": "block", "drug1": "drug A", "drug2": "drug B", "conc1": "dose A", "conc2": "dose B", "response": "viability"}
    df = read_table(p, mp, response_kind="viability")
    assert set(df["conc_unit1"]) == {"uM"} and set(df["conc_unit2"]) == {"nM"}
    assert len(df) == 4
    # explicit two-row header with sub-names
    q = tmp_path / "sub.csv"
    q.write_text("block,conc,,resp\n,A,B,\n1,0,0,100\n1,1,0,50\n1,0,1,60\n1,1,1,20\n")
    df2 = read_table(q, {"block_id": "block", "conc1": "conc A", "conc2": "conc B", "response": "resp"},
                     constants={"drug1": "a", "drug2": "b"}, header_rows=2, response_kind="viability")
    assert df2["conc1"].tolist() == [0.0, 1.0, 0.0, 1.0]
    # errors count data rows under the two-row header
    r = tmp_path / "bad.csv"
    r.write_text("block,drug A,drug B,dose A,dose B,viability\n,,,uM,uM,%\n1,X,Y,0,0,100\n1,X,Y,-1,0,80\n")
    with pytest.raises(InputError) as e:
        read_table(r, mp, response_kind="viability")
    assert e.value.rows == [2] and e.value.column == "dose A"


def test_excel_and_parquet(tmp_path: Path) -> None:
    src = pd.read_csv(scr("decrease_ianevski2019", "192_combinations_breast_8x8_viability.csv.gz")).head(640)
    ref = read_synergyfinder_table(scr("decrease_ianevski2019", "192_combinations_breast_8x8_viability.csv.gz"), response_kind="viability").head(640)
    x = tmp_path / "decrease.xlsx"
    with pd.ExcelWriter(x) as w:
        pd.DataFrame({"a": [1]}).to_excel(w, sheet_name="notes", index=False)
        src.to_excel(w, sheet_name="data", index=False)
    got = read_screen(x, sheet="data", response_kind="viability")
    assert got.attrs["format"] == "synergyfinder_table"
    pd.testing.assert_frame_equal(got, ref)
    pq = tmp_path / "decrease.parquet"
    src.rename(columns={"PairIndex": "pair", "Response": "viab"}).to_parquet(pq)
    mp = {"block_id": "pair", "drug1": "Drug1", "drug2": "Drug2", "conc1": "Conc1", "conc2": "Conc2",
          "conc_unit": "ConcUnit", "response": "viab", "cell_line": "Cell"}
    got2 = read_screen(pq, mapping=mp, response_kind="viability")
    pd.testing.assert_frame_equal(got2, ref, check_dtype=False)
    # a matrix in a spreadsheet
    mx = tmp_path / "matrix.xlsx"
    rows = [["Drug1:", "A"], ["Drug2:", "B"], ["ConcUnit:", "nM"], [None, 0, 10], [0, 1.0, 2.0], [5, 3.0, 4.0]]
    pd.DataFrame(rows).to_excel(mx, header=False, index=False)
    m = read_screen(mx, response_kind="inhibition")
    assert m.attrs["format"] == "synergyfinder_matrix"
    assert m[["conc1", "conc2", "response"]].to_numpy().tolist() == [[0, 0, 1], [0, 10, 2], [5, 0, 3], [5, 10, 4]]


_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh-", min_size=1, max_size=8)


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_blocks=st.integers(1, 3),
    n_dose=st.integers(2, 4),
    n_rep=st.integers(1, 3),
    sep=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    comma_decimal=st.booleans(),
    drugs=st.tuples(_names, _names),
    seed=st.integers(0, 2**16),
)
def test_roundtrip_property(
    tmp_path: Path, n_blocks: int, n_dose: int, n_rep: int, sep: str, newline: str, bom: bool,
    comma_decimal: bool, drugs: tuple[str, str], seed: int,
) -> None:
    """Whatever the separator, line ending, BOM or decimal mark, values come back exactly,
    replicates are numbered 1..n_rep in file order and no row is lost."""
    rng = np.random.default_rng(seed)
    doses = np.round(np.concatenate([[0.0], np.sort(rng.uniform(0.001, 100, n_dose - 1))]), 6)
    recs = []
    for b in range(1, n_blocks + 1):
        for _r in range(n_rep):
            for c1 in doses:
                for c2 in doses:
                    recs.append((b, drugs[0], drugs[1], c1, c2, round(float(rng.normal(50, 30)), 6), "uM"))
    df = pd.DataFrame(recs, columns=["block_id", "drug1", "drug2", "conc1", "conc2", "response", "conc_unit"])
    dec = "," if comma_decimal and sep != "," else "."
    buf = io.StringIO()
    df.to_csv(buf, sep=sep, decimal=dec, index=False, lineterminator=newline)
    p = tmp_path / "rt.csv"
    p.write_bytes((("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8"))
    got = read_screen(p, response_kind="viability")
    assert len(got) == len(df)
    np.testing.assert_array_equal(got[["conc1", "conc2", "response"]].to_numpy(), df[["conc1", "conc2", "response"]].to_numpy())
    assert got["drug1"].tolist() == df["drug1"].tolist()
    expected_rep = np.repeat(np.arange(1, n_rep + 1), n_dose * n_dose)
    np.testing.assert_array_equal(got["replicate"].to_numpy(), np.tile(expected_rep, n_blocks))


# ---------------------------------------------------------------------------------------
# bad input: every error names the file, the column and the rows
# ---------------------------------------------------------------------------------------

GOOD = (
    "block_id,drug1,drug2,conc1,conc2,response,conc_unit,cell_line_name\n"
    "1,A,B,0,0,100,uM,L1\n"
    "1,A,B,1,0,80,uM,L1\n"
    "1,A,B,0,1,70,uM,L1\n"
    "1,A,B,1,1,30,uM,L1\n"
)


def _write(tmp_path: Path, text: str, name: str = "screen.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _err(p: Path, **kw: Any) -> InputError:
    with pytest.raises(InputError) as e:
        read_screen(p, **kw)
    return e.value


def test_good_fixture_reads(tmp_path: Path) -> None:
    df = read_screen(_write(tmp_path, GOOD), response_kind="viability")
    assert len(df) == 4 and set(df["cell_line"]) == {"L1"}


def test_missing_columns(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("conc2", "dose2"))
    e = _err(p, format="synergyfinder", response_kind="viability")
    assert e.file == "screen.csv" and e.columns == ["conc2"]
    assert "missing required column" in str(e)
    # a mapping naming an absent column
    with pytest.raises(InputError) as e2:
        read_table(p, {"conc2": "Conc 2"}, response_kind="viability")
    assert e2.value.file == "screen.csv" and e2.value.columns == ["Conc 2"]
    # O'Neil without viability columns
    q = _write(tmp_path, "BatchID,cell_line,drugA_name,drugA Conc (µM),drugB_name,drugB Conc (µM)\n1,L,A,1,B,1\n", "oneil.csv")
    with pytest.raises(InputError) as e3:
        read_oneil_raw(q)
    assert e3.value.file == "oneil.csv" and "viability1" in e3.value.columns


def test_unknown_units(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("1,A,B,1,1,30,uM", "1,A,B,1,1,30,ug/ml"))
    e = _err(p, response_kind="viability")
    assert e.file == "screen.csv" and e.column == "conc_unit" and e.rows == [4]
    assert "ug/ml" in e.reason


def test_negative_and_non_numeric_concentrations(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("1,A,B,1,0,80", "1,A,B,-1,0,80"))
    e = _err(p, response_kind="viability")
    assert (e.file, e.column, e.rows) == ("screen.csv", "conc1", [2])
    assert "negative" in e.reason
    p = _write(tmp_path, GOOD.replace("1,A,B,0,1,70", "1,A,B,0,1e-3x,70"))
    e = _err(p, response_kind="viability")
    assert (e.file, e.column, e.rows) == ("screen.csv", "conc2", [3])
    assert "non-numeric" in e.reason
    # on a renamed file column the error names the file's own column
    q = _write(tmp_path, "PairIndex,Drug1,Drug2,Conc1,Conc2,Response,ConcUnit\n1,A,B,0,0,1,nM\n1,A,B,abc,0,1,nM\n", "web.csv")
    e = _err(q, response_kind="inhibition")
    assert (e.file, e.column, e.rows) == ("web.csv", "Conc1", [2])
    # in the matrix layout the rows are line numbers
    m = _write(tmp_path, "Drug1:,A\nDrug2:,B\nConcUnit:,nM\n,0,10\n0,1,2\n-5,3,4\n", "m.csv")
    e = _err(m, response_kind="inhibition")
    assert e.file == "m.csv" and e.rows == [6] and "Drug1" in str(e.column)
    # NCATS row index outside the listed concentrations
    (tmp_path / "nc").mkdir()
    (tmp_path / "nc" / "metadata.csv").write_text('BlockId,RowName,ColName,RowConcs,ColConcs,RowConcUnit,ColConcUnit\n1,A,B,"1,0","2,0",uM,uM\n')
    (tmp_path / "nc" / "responses.csv").write_text("BlockId,Col,Row,Value\n1,1,1,5\n1,2,3,6\n")
    with pytest.raises(InputError) as e4:
        read_ncats_matrix(tmp_path / "nc" / "responses.csv", response_kind="viability")
    assert (e4.value.file, e4.value.column, e4.value.rows) == ("responses.csv", "Row", [2])


def test_duplicated_cells_with_conflicting_metadata(tmp_path: Path) -> None:
    # the same dose cell twice under the same replicate number
    p = _write(tmp_path, GOOD.replace("cell_line_name\n", "cell_line_name,replicate\n").replace("L1\n", "L1,1\n"))
    p.write_text(p.read_text() + "1,A,B,1,1,45,uM,L1,1\n")
    e = _err(p, response_kind="viability")
    assert (e.file, e.column, e.rows) == ("screen.csv", "replicate", [4, 5])
    # the same plate well holding two different records
    q = _write(
        tmp_path,
        "block,d1,d2,c1,c2,r,plate,well\n1,A,B,0,0,100,P1,A01\n1,A,B,1,0,80,P1,A02\n1,A,B,0,1,70,P1,A01\n",
        "wells.csv",
    )
    mp = {"block_id": "block", "drug1": "d1", "drug2": "d2", "conc1": "c1", "conc2": "c2", "response": "r",
          "plate": "plate", "well": "well"}
    with pytest.raises(InputError) as e2:
        read_table(q, mp, response_kind="viability")
    assert (e2.value.file, e2.value.column, e2.value.rows) == ("wells.csv", "well", [1, 3])
    # an NCATS block described twice in the metadata
    (tmp_path / "nc").mkdir()
    (tmp_path / "nc" / "metadata.csv").write_text(
        'BlockId,RowName,ColName,RowConcs,ColConcs\n1,A,B,"1,0","2,0"\n1,C,B,"1,0","2,0"\n')
    (tmp_path / "nc" / "responses.csv").write_text("BlockId,Col,Row,Value\n1,1,1,5\n")
    with pytest.raises(InputError) as e3:
        read_ncats_matrix(tmp_path / "nc" / "responses.csv", response_kind="viability")
    assert (e3.value.file, e3.value.column, e3.value.rows) == ("metadata.csv", "BlockId", [1, 2])


def test_block_mixing_cell_lines(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("1,A,B,0,1,70,uM,L1", "1,A,B,0,1,70,uM,L2"))
    e = _err(p, response_kind="viability")
    assert e.file == "screen.csv" and e.column == "cell_line_name" and e.rows == [1, 2, 3, 4]
    assert "mix several cell lines" in e.reason
    # DECREASE-style 'Cell' column
    q = _write(tmp_path, "PairIndex,Drug1,Drug2,Conc1,Conc2,Response,ConcUnit,Cell\n7,A,B,0,0,1,nM,X\n7,A,B,1,0,1,nM,Y\n", "d.csv")
    e = _err(q, response_kind="viability")
    assert (e.file, e.column, e.rows) == ("d.csv", "Cell", [1, 2])


def test_empty_files(tmp_path: Path) -> None:
    p = _write(tmp_path, "")
    e = _err(p, response_kind="viability")
    assert e.file == "screen.csv" and "empty" in e.reason
    q = _write(tmp_path, "\ufeff\r\n\r\n", "blank.csv")
    assert "empty" in _err(q, response_kind="viability").reason
    h = _write(tmp_path, GOOD.splitlines()[0] + "\n", "header_only.csv")
    with pytest.raises(InputError) as e2:
        read_synergyfinder_table(h, response_kind="viability")
    assert e2.value.file == "header_only.csv" and "no data rows" in e2.value.reason
    g = tmp_path / "empty.csv.gz"
    g.write_bytes(gzip.compress(b""))
    assert "empty" in _err(g, response_kind="viability").reason


def test_response_kind_is_never_guessed(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace(",response,", ",Inhib,"))
    e = _err(p, mapping={"response": "Inhib"})
    assert e.file == "screen.csv" and e.column == "Inhib" and "never guessed" in e.reason
    e = _err(_write(tmp_path, GOOD))
    assert e.column == "response"
    with pytest.raises(InputError, match="response_kind must be one of"):
        read_screen(_write(tmp_path, GOOD), response_kind="cytotoxicity")


def test_non_numeric_response_and_unknown_format(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("1,A,B,1,1,30", "1,A,B,1,1,n.d."))
    e = _err(p, response_kind="viability")
    assert (e.column, e.rows) == ("response", [4])
    q = _write(tmp_path, "x,y,z\n1,2,3\n", "other.csv")
    e = _err(q)
    assert e.file == "other.csv" and "mapping" in e.reason
    with pytest.raises(ValueError, match="unknown format"):
        read_screen(q, format="nonsense")
