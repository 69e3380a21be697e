"""Cohort construction: sample matching, endpoint/response detection, event coding, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensitize.cohort.data import (
    build_cohort,
    detect_endpoints,
    detect_scale,
    harmonise_scale,
    parse_event,
    parse_response,
    resolve_duplicate_genes,
)
from sensitize.cohort.simulate import simulate_cohort
from sensitize.core.errors import InputError


@pytest.fixture
def sim() -> tuple[pd.DataFrame, pd.DataFrame]:
    s = simulate_cohort(30, 20, seed=1)
    return s.expression, s.clinical


def test_build_detects_everything(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    c = build_cohort(expr, clin)
    assert set(c.endpoints) == {"os", "pfs"}
    assert c.endpoints["os"].time_col == "os_months" and c.endpoints["os"].unit == "months"
    assert c.response is not None and c.response.column == "response"
    assert c.report["sample_col"] == "sample"
    assert c.expression.shape == (expr.shape[0], 30)


def test_sample_mismatch_reported_not_silent(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    expr2 = expr.drop(columns=["S001"]).assign(EXTRA=1.0)
    c = build_cohort(expr2, clin)
    assert c.report["samples"]["only_in_expression"] == ["EXTRA"]
    assert c.report["samples"]["only_in_clinical"] == ["S001"]
    assert len(c.samples) == 29
    with pytest.raises(InputError, match="do not match") as ei:
        build_cohort(expr2, clin, strict_samples=True)
    assert ei.value.rows == [1]


def test_transposed_expression_detected(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    c = build_cohort(expr.T, clin)
    assert c.report.get("transposed_expression") is True
    assert "CXCL9" in c.expression.index


def test_duplicated_sample_ids_error(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    clin2 = pd.concat([clin, clin.iloc[[2]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicated sample") as ei:
        build_cohort(expr, clin2)
    assert ei.value.rows == [3, 31]


@pytest.mark.parametrize(
    "cols,expected",
    [
        (["OS.time", "OS.event"], ("OS.time", "OS.event")),
        (["os_days", "os_status"], ("os_days", "os_status")),
        (["OS_MONTHS", "OS_STATUS"], ("OS_MONTHS", "OS_STATUS")),
        (["os", "censOS"], ("os", "censOS")),
        (["survival_time_os", "event_occurred_os"], ("survival_time_os", "event_occurred_os")),
        (["OS (days)", "OS_SOR"], ("OS (days)", "OS_SOR")),
    ],
)
def test_endpoint_naming_conventions(cols: list[str], expected: tuple[str, str]) -> None:
    rng = np.random.default_rng(0)
    clin = pd.DataFrame({cols[0]: rng.uniform(1, 50, 20).round(1), cols[1]: rng.integers(0, 2, 20)})
    found, _ = detect_endpoints(clin)
    assert found["os"] == expected


def test_censoring_flag_inverted_and_reported(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    clin2 = clin.drop(columns=["os_event", "pfs_months", "pfs_event"]).assign(OS_SOR=1 - clin["os_event"])
    c = build_cohort(expr, clin2)
    assert c.endpoints["os"].event_coding == "censor"
    assert (c.endpoints["os"].event.to_numpy() == clin["os_event"].to_numpy()).all()
    assert any("censoring flag" in n for n in c.report["endpoints"]["os"]["notes"])


@pytest.mark.parametrize(
    "vals,expected",
    [
        ([0, 1, 1], [0, 1, 1]),
        ([True, False, True], [1, 0, 1]),
        (["dead", "alive", "Deceased"], [1, 0, 1]),
        (["1:DECEASED", "0:LIVING", None], [1, 0, np.nan]),
        (["TRUE", "FALSE", "yes"], [1, 0, 1]),
    ],
)
def test_event_vocabularies(vals: list[object], expected: list[float]) -> None:
    out = parse_event(pd.Series(vals, dtype=object))
    np.testing.assert_array_equal(out.to_numpy(), np.array(expected, dtype=float))


def test_event_not_01_is_an_error_with_rows() -> None:
    with pytest.raises(InputError, match="2 = event coding") as ei:
        parse_event(pd.Series([1, 2, 2, 1]), column="status", file="c.csv")
    assert ei.value.rows == [2, 3]
    with pytest.raises(InputError, match="0/1"):
        parse_event(pd.Series(["dead", "maybe"]))


def test_negative_time_error_zero_time_flagged(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    bad = clin.copy()
    bad.loc[4, "os_months"] = -1.0
    with pytest.raises(InputError, match="negative") as ei:
        build_cohort(expr, bad, clinical_file="clin.csv")
    assert ei.value.rows == [5] and ei.value.column == "os_months"
    zero = clin.copy()
    zero.loc[2, "os_months"] = 0.0
    c = build_cohort(expr, zero)
    assert any("time 0" in n for n in c.report["endpoints"]["os"]["notes"])


def test_response_rules_and_unknown_labels() -> None:
    s = pd.Series(["CR", "PR", "SD", "PD", "NE", "Only scanned baseline", None], name="bor")
    orr = parse_response(s, "orr")
    assert list(orr.labels.iloc[:4]) == [1, 1, 0, 0]
    assert np.isnan(orr.labels.iloc[4])  # not evaluable -> missing, not an error
    assert "Only scanned baseline" in orr.unmapped
    cb = parse_response(s, "cb")
    assert list(cb.labels.iloc[:4]) == [1, 1, 1, 0]
    with pytest.raises(InputError, match="outside the rule") as ei:
        parse_response(s, "orr", on_unknown="error", column="bor")
    assert ei.value.rows == [6]
    with pytest.raises(InputError):
        parse_response(pd.Series(["CR", "PD"]), "label", on_unknown="error")
    yn = parse_response(pd.Series(["Yes", "No", "Responder", "Non-responder", "CRPR"]))
    assert list(yn.labels) == [1, 0, 1, 0, 1]
    mets = parse_response(pd.Series(["yes", "no"]), responder_labels=["no"], nonresponder_labels=["yes"])
    assert list(mets.labels) == [0, 1]


def test_duplicate_gene_policies() -> None:
    e = pd.DataFrame({"a": [1.0, 3.0, 5.0], "b": [2.0, 4.0, 0.0]}, index=["G", "G", "H"])
    m, d = resolve_duplicate_genes(e, "mean")
    assert d == {"G": 2} and m.loc["G", "a"] == 2.0
    mm, _ = resolve_duplicate_genes(e, "max_mean")
    assert mm.loc["G", "a"] == 3.0 and list(mm.index) == ["G", "H"]
    with pytest.raises(InputError, match="duplicated gene") as ei:
        resolve_duplicate_genes(e, "error", file="expr.tsv")
    assert ei.value.rows == [1, 2]


def test_scale_detection_and_conversion() -> None:
    rng = np.random.default_rng(0)
    tpm = pd.DataFrame(rng.gamma(0.5, 40, (200, 6)), columns=list("abcdef"))
    tpm.iloc[:20] = 0.0
    assert detect_scale(tpm)["kind"] == "linear"
    assert detect_scale(tpm.round()).get("kind") == "counts"
    log001 = np.log2(tpm + 0.001).round(4)
    info = detect_scale(log001)
    assert info["kind"] == "log2_floor" and info["pseudocount"] == pytest.approx(0.001)
    conv, unit, _ = harmonise_scale(log001, "auto", "TPM")
    np.testing.assert_allclose(conv.to_numpy(), np.log2(tpm + 1).to_numpy(), atol=1e-3)
    assert unit.startswith("log2(TPM + 1)")
    micro = pd.DataFrame(rng.normal(8, 2, (100, 4)))
    assert harmonise_scale(micro)[0] is micro


def test_ensembl_versions_and_symbol_pipe_ids(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    e = expr.copy()
    e.index = [f"{g}|{i}" for i, g in enumerate(e.index)]
    c = build_cohort(e, clin)
    assert "CXCL9" in c.expression.index
    assert any("SYMBOL" in n for n in c.report["gene_id_notes"])


def test_feature_lookup(sim: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    expr, clin = sim
    c = build_cohort(expr, clin)
    assert c.feature("cxcl9").notna().all()  # case-insensitive
    assert c.feature("age").dtype == float  # clinical column as biomarker
    with pytest.raises(InputError, match="neither"):
        c.feature("NOTAGENE")
    with pytest.raises(InputError, match="non-numeric"):
        c.feature("sex")
