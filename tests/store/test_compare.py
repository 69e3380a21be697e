from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from sensitize.core.errors import InputError
from sensitize.store import compare_frames


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block_id": [1, 2, 3],
            "drug": ["A", "B", None],
            "score": [0.5, np.nan, 2.0],
            "flag": [True, False, True],
        }
    )


def test_identical_tables_are_all_equal() -> None:
    a = _frame()
    out = compare_frames(a, a.copy(), "block_id")
    assert len(out) == 3 * 3
    assert (out["status"] == "equal").all()
    assert list(out.columns) == ["block_id", "column", "a", "b", "difference", "status"]
    assert compare_frames(a, a.copy(), ["block_id"], only_differences=True).empty


def test_differences_presence_and_tolerance() -> None:
    a = _frame()
    b = a.copy()
    b.loc[0, "score"] = 0.5 + 1e-9
    b.loc[1, "drug"] = "C"
    b = pd.concat(
        [
            b.iloc[[0, 1]],
            pd.DataFrame({"block_id": [4], "drug": ["Z"], "score": [1.0], "flag": [False]}),
        ]
    )
    out = compare_frames(a, b, "block_id", ["score", "drug"])
    got = {(int(r.block_id), r.column): r.status for r in out.itertuples()}
    assert got[(1, "score")] == "different"
    assert got[(2, "score")] == "equal"  # NaN in both
    assert got[(2, "drug")] == "different"
    assert got[(3, "score")] == "only_in_a"
    assert got[(4, "score")] == "only_in_b"
    # ordering: keys of a first (in a's order) then keys only in b
    assert out["block_id"].drop_duplicates().tolist() == [1, 2, 3, 4]
    diff = out.set_index(["block_id", "column"]).loc[(1, "score"), "difference"]
    assert diff == pytest.approx(1e-9, abs=1e-15)
    tol = compare_frames(a, b, "block_id", ["score"], atol=1e-6)
    assert tol.set_index("block_id").loc[1, "status"] == "equal"
    only = compare_frames(a, b, "block_id", ["score", "drug"], only_differences=True)
    assert set(only["status"]) == {"different", "only_in_a", "only_in_b"}


def test_column_missing_in_one_table_compares_as_missing() -> None:
    a = _frame()
    b = a.assign(extra=[1, 2, 3])
    out = compare_frames(a, b, "block_id")
    ex = out[out["column"] == "extra"]
    assert (ex["status"] == "different").all() and ex["b"].tolist() == [1, 2, 3]


def test_bad_keys_and_columns() -> None:
    a = _frame()
    with pytest.raises(InputError, match="key column not found") as ei:
        compare_frames(a, a, "nope")
    assert ei.value.columns == ["nope"]
    dup = pd.concat([a, a.iloc[[1]]], ignore_index=True)
    with pytest.raises(InputError, match="uniquely") as ei:
        compare_frames(a, dup, "block_id", names=("run 1", "run 2"))
    assert ei.value.rows == [2, 4] and ei.value.file == "run 2"
    with pytest.raises(InputError, match="not found"):
        compare_frames(a, a, "block_id", ["ghost"])
    with pytest.raises(InputError, match="key column cannot"):
        compare_frames(a, a, "block_id", ["block_id"])
    with pytest.raises(InputError, match="at least one key"):
        compare_frames(a, a, [])


frames = data_frames(
    columns=[
        column("k", elements=st.integers(0, 10**6), unique=True),
        column("x", elements=st.floats(allow_nan=True, allow_infinity=False, width=64)),
        column("s", elements=st.one_of(st.none(), st.text(max_size=3))),
    ],
    index=range_indexes(max_size=15),
)


@settings(max_examples=30, derandomize=True, deadline=None)
@given(frames)
def test_self_comparison_is_equal_whatever_the_row_order(df: pd.DataFrame) -> None:
    shuffled = df.sample(frac=1.0, random_state=len(df)).reset_index(drop=True)
    out = compare_frames(df, shuffled, "k")
    assert len(out) == 2 * len(df)
    assert (out["status"] == "equal").all()


@settings(max_examples=30, derandomize=True, deadline=None)
@given(frames, st.data())
def test_changed_cells_are_exactly_the_differences(df: pd.DataFrame, data: st.DataObject) -> None:
    if df.empty:
        return
    rows = data.draw(st.sets(st.integers(0, len(df) - 1)))
    b = df.copy()
    x = b["x"].to_numpy(copy=True)
    x[list(rows)] = np.where(
        np.isnan(x[list(rows)]), 1.0, x[list(rows)] + 1.0 + np.abs(x[list(rows)])
    )
    b["x"] = x
    out = compare_frames(df, b, "k", ["x"], only_differences=True)
    assert set(out["k"]) == set(df["k"].iloc[list(rows)])
