"""Readers for in vivo sheets: every shared file loads; TumGrowth corner cases; bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensitize.core.errors import InputError
from sensitize.invivo.schema import validate_study
from sensitize.io.invivo import excluded_table, read_invivo
from tests.conftest import shared_file

# file -> (layout, groups, animals)
FILES = {
    ("invivosyn", "CR1197.csv"): ("wide", 4, 37),
    ("invivosyn", "SW837.csv"): ("wide", 4, 24),
    ("invivosyn", "LS_1034.csv"): ("wide", 4, 41),
    ("invivosyn", "SNU-81.csv"): ("wide", 4, 26),
    ("invivosyn", "SW837_processed_long.csv"): ("long", 4, 24),
    ("invivosyn", "LS_1034_processed_long.csv"): ("long", 4, 41),
    ("invivosyn", "SNU_81_processed_long.csv"): ("long", 4, 26),
    ("synergylmm_manuscript", "Fig2", "BV_173.csv"): ("long", 4, 24),
    ("synergylmm_manuscript", "Fig2", "CHL1_FM.xlsx"): ("long", 4, 22),
    ("synergylmm_manuscript", "Fig2", "MDA_MD231_Fig5C.xlsx"): ("long", 4, 30),
    ("synergylmm_manuscript", "Fig2", "U87MG.xlsx"): ("long", 4, 16),
    ("synergylmm_manuscript", "Fig3", "MAS98_06.csv"): ("long", 9, 51),
    ("synergylmm_manuscript", "Fig3", "MAS98.06_EGF_Fulv.xlsx"): ("long", 4, 22),
    ("synergylmm_manuscript", "Fig3", "MAS98.06_Fulv_Trast.xlsx"): ("long", 4, 22),
    ("synergylmm_manuscript", "Fig3", "MAS98.06_Her_Fulv.xlsx"): ("long", 4, 25),
    ("synergylmm_manuscript", "Fig3", "MAS98.06_Her_Trast.xlsx"): ("long", 4, 23),
    ("synergylmm_manuscript", "Fig4", "MAS98.06_Her_Fulv_Trast.xlsx"): ("long", 5, 28),
    ("synergylmm_manuscript", "Fig4", "U87MG_Triple_long.csv"): ("long", 5, 34),
    ("synergylmm_manuscript", "Fig5", "CR1197_sel_tv.csv"): ("long", 4, 37),
    ("synergylmm_manuscript", "Fig5", "SW837_long.xlsx"): ("long", 4, 24),
    ("synergylmm_manuscript", "Supp_Fig9", "LS_1034_long.xlsx"): ("long", 4, 41),
    ("synergylmm_manuscript", "Supp_Fig9", "SNU81_long.xlsx"): ("long", 4, 26),
    ("synergylmm_pkg", "grwth_data.csv"): ("long", 4, 32),
    ("synergylmm_webapp", "eg_grwth_data.xlsx"): ("long", 4, 20),
    ("telarovic_mrecist", "input-example.csv"): ("days_as_rows", 1, 7),
    ("tumgrowth", "KOLB2008.tsv"): ("tumgrowth", 2, 16),
    ("tumgrowth", "TestCS.tsv"): ("tumgrowth", 6, 52),
    ("tumgrowth", "TestLong.tsv"): ("tumgrowth", 2, 20),
    ("tumgrowth", "TestOS.tsv"): ("tumgrowth", 4, 24),
    ("tumgrowth", "TestTFS.tsv"): ("tumgrowth", 5, 50),
    ("tumgrowth", "Toy.tsv"): ("tumgrowth", 2, 6),
    ("xeva_brca", "experiments_long.csv"): ("long", 22, 849),
    ("xeva_repdx", "experiments_long.csv"): ("long", 2, 60),
}


@pytest.mark.parametrize("parts", list(FILES), ids=["/".join(p) for p in FILES])
def test_every_shared_file_loads(parts: tuple[str, ...]) -> None:
    path = shared_file("invivo", *parts)
    df = read_invivo(path)
    layout, n_groups, n_animals = FILES[parts]
    assert df.attrs["layout"] == layout
    clean, _ = validate_study(df)
    assert clean["group"].nunique() == n_groups
    assert clean["animal"].nunique() == n_animals
    assert (clean["volume"] >= 0).all()
    # nothing silently lost: every excluded item has a reason
    excl = excluded_table(df)
    assert excl["reason"].notna().all()


def test_toy_corner_cases() -> None:
    df = read_invivo(shared_file("invivo", "tumgrowth", "Toy.tsv"))  # old-Mac CR line endings
    assert sorted(df["day"].unique()) == [2, 5, 10, 15, 20]  # 'd25' ignored
    assert any("d25" in n for n in df.attrs["notes"])
    excl = excluded_table(df)
    assert excl["value"].tolist() == ["eighty"]  # text in a numeric cell is NA, reported
    a5 = df[df["animal"] == "animal5"]
    assert a5["day"].tolist() == [2, 5, 10, 15]
    # V (not W) is used at day 15
    assert df.loc[(df["animal"] == "animal1") & (df["day"] == 15), "volume"].item() == 8
    # Surv flag -> censored
    cens = df.groupby("animal")["censored"].first()
    assert cens.to_dict() == {"animal1": True, "animal2": True, "animal3": False, "animal4": True,
                              "animal5": False, "animal6": True}
    # trailing zeros kept by default (below detection), dropped on request
    assert df.loc[df["animal"] == "animal6", "volume"].tolist() == [0.6, 0, 0.7, 0, 0]
    dropped = read_invivo(shared_file("invivo", "tumgrowth", "Toy.tsv"), trailing_zeros="drop")
    assert dropped.loc[dropped["animal"] == "animal6", "volume"].tolist() == [0.6, 0, 0.7]
    assert (excluded_table(dropped)["reason"] == "trailing zero treated as not measured").sum() == 3


def test_testlong_decimal_commas_and_use_flag() -> None:
    df = read_invivo(shared_file("invivo", "tumgrowth", "TestLong.tsv"))
    assert 201.5 in df["volume"].to_numpy()
    excl = excluded_table(df)
    assert (excl["reason"].str.startswith("Use flag empty")).sum() == 1
    assert df.groupby("group")["animal"].nunique().to_dict() == {"A": 11, "C": 9}


def test_testcs_summary_row_and_surface() -> None:
    path = shared_file("invivo", "tumgrowth", "TestCS.tsv")
    df = read_invivo(path)
    assert 1 in excluded_table(df)["source_row"].tolist()  # spreadsheet means row
    assert df.iloc[0]["volume"] == pytest.approx(30.24)  # V = L*W (a surface) used as given
    lw = read_invivo(path, measure="LW")  # volume from L and W by the stated formula
    first = lw[(lw["source_row"] == 2) & (lw["day"] == 7)].iloc[0]
    assert first["volume"] == pytest.approx(5.6 * 5.4**2 / 2)
    assert read_invivo(path, measure="LW", volume_formula="L*W").iloc[0]["volume"] == pytest.approx(30.24)


def test_testos_regressions_and_dropout() -> None:
    df = read_invivo(shared_file("invivo", "tumgrowth", "TestOS.tsv"))
    last = df.sort_values("day").groupby("animal").tail(1)
    assert (last["volume"] == 0).sum() >= 1  # complete regressions (runs of 0)
    assert df.groupby("animal")["day"].max().nunique() > 1  # early drop-out


def test_bilateral_caliper_sum_matches_total(tmp_path: Path) -> None:
    x = pd.read_excel(shared_file("invivo", "synergylmm_manuscript", "Fig3", "MAS98.06_Her_Trast.xlsx"))
    x = x.drop(columns=["Total_vol", "L_vol", "R_vol", "Max_vol", "R_Total_Vol", "logTV", "logMaxTV"])
    p = tmp_path / "bilateral.csv"
    x.to_csv(p, index=False)
    df = read_invivo(p)
    assert any("bilateral" in n for n in df.attrs["notes"])
    ref = pd.read_excel(shared_file("invivo", "synergylmm_manuscript", "Fig3", "MAS98.06_Her_Trast.xlsx"))
    ref = ref.dropna(subset=["L_Dmin"])
    merged = df.merge(ref, left_on=["animal", "day"], right_on=["Sample", "Days"])
    assert len(merged) > 100
    np.testing.assert_allclose(merged["volume"], merged["Total_vol"], rtol=1e-9)


def test_caliper_long_with_formula(tmp_path: Path) -> None:
    p = tmp_path / "cal.csv"
    p.write_text("mouse,group,day,length,width\nm1,Veh,0,10,5\nm1,Veh,3,12,6\nm2,Veh,0,8,6\n")
    df = read_invivo(p)
    assert df["volume"].tolist() == [10 * 25 / 2, 12 * 36 / 2, 8 * 36 / 2]
    df2 = read_invivo(p, volume_formula="pi/6*L*W^2")
    assert df2["volume"].iloc[0] == pytest.approx(np.pi / 6 * 250)
    with pytest.raises(InputError, match="unknown volume formula"):
        read_invivo(p, volume_formula="L+W")


def test_semicolon_decimal_comma_long(tmp_path: Path) -> None:
    p = tmp_path / "eu.csv"
    p.write_text("Maus;Gruppe;Tag;TV\n")  # unknown names -> clear error
    with pytest.raises(InputError):
        read_invivo(p)
    p.write_text("mouse;group;day;volume\nm1;A;0;10,5\nm1;A;3;12,25\n")
    df = read_invivo(p)
    assert df["volume"].tolist() == [10.5, 12.25]


def test_non_numeric_volume_reported_not_dropped_silently(tmp_path: Path) -> None:
    p = tmp_path / "nm.csv"
    p.write_text("mouse,group,day,volume\nm1,A,0,10\nm1,A,3,Not measured\nm1,A,6,\n")
    df = read_invivo(p)
    assert len(df) == 1
    ex = excluded_table(df)
    assert ex["source_row"].tolist() == [2, 3]
    assert ex["reason"].tolist() == ["non-numeric volume", "missing volume"]


def test_bad_day_names_rows(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("mouse,group,day,volume\nm1,A,0,10\nm1,A,x,12\n")
    with pytest.raises(InputError) as e:
        read_invivo(p)
    assert e.value.rows == [2] and e.value.column == "day"


def test_na_cells_mean_not_measured_in_every_sheet_layout(tmp_path: Path) -> None:
    """An empty or ``NA`` cell is "not measured" in wide and TumGrowth sheets alike; other
    text is reported as excluded, never dropped silently."""
    wide = tmp_path / "wide.csv"
    wide.write_text("Treatment,Mouse,0,3,6\nVeh,m1,10,NA,abc\nVeh,m2,11,,13\n")
    tg = tmp_path / "tg.csv"
    tg.write_text("Grp,Id,0,3,6\n,,V,V,V\nVeh,m1,10,NA,abc\nVeh,m2,11,,13\n")
    for p, layout in ((wide, "wide"), (tg, "tumgrowth")):
        df = read_invivo(p)
        assert df.attrs["layout"] == layout
        assert len(df) == 3, layout
        ex = excluded_table(df)
        assert ex["value"].tolist() == ["abc"], layout
        assert ex["reason"].tolist() == ["non-numeric cell counted as NA"], layout
