from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitize.core.errors import InputError
from sensitize.store.schema import frame_to_arrow, sanitize_table_name, unique_sql_name, widen_type

IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def test_sanitize_examples() -> None:
    assert sanitize_table_name("screen.blocks") == "screen_blocks"
    assert sanitize_table_name("InVivo / TGI (day 21)") == "invivo_tgi_day_21"
    assert sanitize_table_name("21.days") == "t_21_days"
    assert sanitize_table_name("...") == "t"


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_sanitize_gives_plain_idempotent_identifier(name: str) -> None:
    s = sanitize_table_name(name)
    assert IDENT.match(s)
    assert sanitize_table_name(s) == s


def test_unique_sql_name_avoids_collisions() -> None:
    assert unique_sql_name("screen.blocks", []) == "screen_blocks"
    assert unique_sql_name("screen_blocks", ["screen_blocks"]) == "screen_blocks_2"
    assert (
        unique_sql_name("Screen-Blocks", ["screen_blocks", "screen_blocks_2"]) == "screen_blocks_3"
    )


TYPES = [
    "BOOLEAN",
    "TINYINT",
    "INTEGER",
    "BIGINT",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL(5,2)",
    "VARCHAR",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP_NS",
    "BIGINT[]",
]
SAMPLE = {
    "BOOLEAN": "true",
    "TINYINT": "-7",
    "INTEGER": "123456",
    "BIGINT": "-9000000000",
    "UBIGINT": "18000000000000000000",
    "FLOAT": "1.5",
    "DOUBLE": "0.1",
    "DECIMAL(5,2)": "123.45",
    "VARCHAR": "'text'",
    "DATE": "DATE '2021-03-04'",
    "TIMESTAMP": "TIMESTAMP '2021-03-04 05:06:07.123456'",
    "TIMESTAMP_NS": "TIMESTAMP_NS '2021-03-04 05:06:07.123456789'",
    "BIGINT[]": "[1, 2, 3]",
}


def test_widen_type_is_commutative_and_holds_both() -> None:
    con = duckdb.connect()
    for t1 in TYPES:
        assert widen_type(t1, t1) == t1
        for t2 in TYPES:
            w = widen_type(t1, t2)
            assert w == widen_type(t2, t1)
            for t in (t1, t2):
                # a value of either type can be stored in the widened column and read back
                sql = f"SELECT CAST(CAST(CAST({SAMPLE[t]} AS {t}) AS {w}) AS {t}) = CAST({SAMPLE[t]} AS {t})"
                assert con.execute(sql).fetchone() == (True,), (t1, t2, w)
    con.close()


def test_widen_examples() -> None:
    assert widen_type("INTEGER", "BIGINT") == "BIGINT"
    assert widen_type("BIGINT", "DOUBLE") == "DOUBLE"
    assert widen_type("DATE", "TIMESTAMP_NS") == "TIMESTAMP_NS"
    assert widen_type("DATE", "TIMESTAMP_MS") == "TIMESTAMP"
    assert widen_type("DOUBLE", "VARCHAR") == "VARCHAR"
    assert widen_type('"NULL"', "DOUBLE") == "DOUBLE"


def test_frame_to_arrow_rejects_reserved_and_duplicate_names() -> None:
    with pytest.raises(InputError, match="reserved") as ei:
        frame_to_arrow(pd.DataFrame({"run_id": [1], "x": [2]}), "t")
    assert ei.value.columns == ["run_id"] and ei.value.file == "t"
    with pytest.raises(InputError, match="duplicate") as ei:
        frame_to_arrow(pd.DataFrame([[1, 2]], columns=["Dose", "dose"]), "t")
    assert ei.value.columns == ["Dose", "dose"]
    with pytest.raises(InputError, match="empty column"):
        frame_to_arrow(pd.DataFrame({"": [1]}), "t")
    with pytest.raises(InputError, match="DataFrame"):
        frame_to_arrow([1, 2], "t")  # type: ignore[arg-type]


def test_frame_to_arrow_index_categorical_and_mixed_objects() -> None:
    df = pd.DataFrame(
        {"cat": pd.Categorical(["a", None, "b"]), "mixed": ["x", 1, None], "v": [1.0, 2.0, 3.0]},
        index=pd.Index(["r1", "r2", "r3"], name="sample"),
    )
    at = frame_to_arrow(df, "t")
    assert at.column_names == ["sample", "cat", "mixed", "v"]
    assert at.column("cat").to_pylist() == ["a", None, "b"]
    assert at.column("mixed").to_pylist() == ["x", "1", None]
    plain = frame_to_arrow(pd.DataFrame({"v": np.arange(3)}), "t")
    assert plain.column_names == ["v"]
    unnamed = frame_to_arrow(pd.DataFrame({"v": [1, 2]}, index=[5, 7]), "t")
    assert unnamed.column_names == ["index", "v"]
    assert unnamed.column("index").to_pylist() == [5, 7]
