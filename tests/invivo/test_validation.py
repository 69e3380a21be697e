"""Bad input: clear errors or flagged results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensitize.core.errors import InputError
from sensitize.invivo import GrowthStudy, analyze, simulate_study, validate_study


def _df() -> pd.DataFrame:
    return simulate_study(seed=5, n_per_arm=4)[["animal", "group", "day", "volume"]]


def test_negative_volume_error_names_rows() -> None:
    df = _df()
    df.loc[3, "volume"] = -1.0
    with pytest.raises(InputError) as e:
        validate_study(df)
    assert e.value.rows == [4] and e.value.column == "volume"


def test_duplicated_animal_day_error() -> None:
    df = pd.concat([_df(), _df().iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicated animal-day"):
        validate_study(df)


def test_missing_column_and_empty() -> None:
    with pytest.raises(InputError, match="missing required column"):
        validate_study(_df().drop(columns="volume"))
    with pytest.raises(InputError, match="no measurements"):
        validate_study(_df().iloc[0:0])


def test_animal_in_two_groups_error() -> None:
    df = _df()
    df.loc[0, "group"] = "Other"
    with pytest.raises(InputError, match="more than one group"):
        validate_study(df)


def test_days_out_of_order_flagged_and_sorted() -> None:
    df = _df()
    df = pd.concat([df.iloc[[1]], df.iloc[[0]], df.iloc[2:]], ignore_index=True)
    clean, rep = validate_study(df)
    assert "days_out_of_order" in rep.kinds()
    for _, sub in clean.groupby("animal"):
        assert np.all(np.diff(sub["day"].to_numpy()) > 0)


def test_single_animal_group_and_single_measurement_flagged() -> None:
    df = _df()
    solo = pd.DataFrame({"animal": ["solo", "solo", "one"], "group": ["Solo", "Solo", "Solo"],
                         "day": [0, 3, 0], "volume": [100, 150, 90]})
    study = GrowthStudy(pd.concat([df, solo], ignore_index=True), control="Vehicle").fit()
    kinds = study.flags.kinds()
    assert "single_measurement" in kinds
    assert study.growth_rates is not None
    solo_only = pd.concat([df, solo.iloc[:2]], ignore_index=True)
    study = GrowthStudy(solo_only, control="Vehicle").fit()
    assert "single_animal_group" in study.flags.kinds()
    assert np.isfinite(study.growth_rates.table.set_index("group").loc["Solo", "rate"])  # type: ignore[union-attr]


def test_all_zero_arm_flagged_and_analysis_runs() -> None:
    df = _df()
    zero = pd.DataFrame({"animal": [f"z{i}" for i in range(3) for _ in range(3)], "group": "Cured",
                         "day": [0, 3, 7] * 3, "volume": 0.0})
    res = analyze(pd.concat([df, zero], ignore_index=True), control="Vehicle", drug_a="Targeted",
                  drug_b="anti-PD-1", combination="Targeted+anti-PD-1", n_boot=20, ra_nsim=50,
                  time_resolved=False)
    assert "all_zero_group" in res.study.flags.kinds()
    gr = res.growth_rates_table().set_index("group")
    assert np.isnan(gr.loc["Cured", "rate"])
    assert res.survival is not None
    assert res.survival.regressions.set_index("group").loc["Cured", "tumor_free"] == 3


def test_unknown_arm_rejected() -> None:
    with pytest.raises(InputError, match="not a group"):
        analyze(_df(), combination="Nope")
