"""Helpers to load the R reference outputs of ``clinical/r_reference`` (skip when absent)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from tests.conftest import shared_file


@lru_cache(maxsize=1)
def reference_long() -> pd.DataFrame:
    return pd.read_csv(shared_file("clinical", "r_reference", "clinical_reference_long.csv"))


@lru_cache(maxsize=1)
def reference_features() -> pd.DataFrame:
    return pd.read_csv(shared_file("clinical", "r_reference", "clinical_features_per_sample.csv"))


def ref_values(cohort: str, feature: str, endpoint: str) -> dict[str, str]:
    ref = reference_long()
    sel = ref[(ref.cohort == cohort) & (ref.feature == feature) & (ref.endpoint == endpoint)]
    return dict(zip(sel.statistic, sel.value.astype(str)))


def ref_float(vals: dict[str, str], key: str) -> float:
    v = vals[key]
    return float("nan") if v == "NA" else float(v)


@lru_cache(maxsize=8)
def clinical(cohort: str) -> pd.DataFrame:
    return pd.read_csv(shared_file("clinical", cohort, "clinical.tsv"), sep="\t").set_index("sample")


def feature_values(cohort: str, feature: str) -> pd.Series:
    f = reference_features()
    sel = f[(f.cohort == cohort) & (f.feature == feature)]
    return sel.set_index("sample")["value"].astype(float)


def survival_inputs(cohort: str, feature: str, endpoint: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """time, event, x exactly as R used them (complete cases)."""
    cl = clinical(cohort)
    t = cl[f"survival_time_{endpoint.lower()}"]
    e = cl[f"event_occurred_{endpoint.lower()}"]
    x = feature_values(cohort, feature)
    idx = [s for s in x.index if pd.notna(t.get(s)) and pd.notna(e.get(s))]
    return t.loc[idx].astype(float), e.loc[idx].astype(float), x.loc[idx]


def combos(endpoints: tuple[str, ...] = ("OS", "PFS")) -> list[tuple[str, str, str]]:
    try:
        ref = reference_long()
    except BaseException:  # skipped when the data are absent
        return []
    sel = ref[ref.endpoint.isin(endpoints)][["cohort", "feature", "endpoint"]].drop_duplicates()
    return [tuple(r) for r in sel.itertuples(index=False)]
