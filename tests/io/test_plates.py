"""Plate maps and reader exports: shapes, formats and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensitize.core.errors import InputError
from sensitize.io.plates import (
    join_plates,
    normalise_well,
    parse_well,
    read_plate_map,
    read_plates,
    read_reader_export,
    well_names,
    write_grid_export,
)

ROWS = "ABCDEFGH"


def small_map(plates: tuple[str, ...] = ("P1",)) -> pd.DataFrame:
    """A 96-well map: column 1 vehicle, column 2 positive controls, the rest samples."""
    recs = []
    for p in plates:
        for r in ROWS:
            for c in range(1, 13):
                rec: dict[str, object] = {"plate": p, "well": f"{r}{c}", "cell_line": "LLC1"}
                if c == 1:
                    rec.update(role="vehicle")
                elif c == 2:
                    rec.update(role="positive_control", control_readout="viability" if r < "E" else "CXCL10",
                               drug1="staurosporine" if r < "E" else "IFN-gamma",
                               conc1=1.0 if r < "E" else 10.0, unit1="uM" if r < "E" else "ng/mL")
                elif c == 12:
                    rec.update(role="empty")
                else:
                    rec.update(role="sample", drug1="TD01", conc1=0.1 * c, unit1="uM",
                               drug2="oxaliplatin" if r > "D" else None, conc2=1.0 if r > "D" else None,
                               unit2="uM" if r > "D" else None)
                recs.append(rec)
    return pd.DataFrame(recs)


def small_reads(pm: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(pm)
    return pd.DataFrame({
        "plate": pm["plate"], "well": pm["well"],
        "viability": rng.normal(1000, 50, n).round(1), "CXCL10": rng.normal(50, 5, n).round(2),
    })


# --------------------------------------------------------------------------- wells


@pytest.mark.parametrize(("raw", "want"), [
    ("A1", "A01"), ("a01", "A01"), (" P24 ", "P24"), ("B-3", "B03"), ("h12", "H12"), ("C 7", "C07"),
])
def test_normalise_well_accepts_common_spellings(raw: str, want: str) -> None:
    assert normalise_well(raw) == want


@pytest.mark.parametrize("raw", ["Q1", "A25", "A0", "", "11", "AA1", None, float("nan")])
def test_parse_well_rejects_non_wells(raw: object) -> None:
    assert parse_well(raw) is None


def test_well_names_formats() -> None:
    assert len(well_names(96)) == 96 and well_names(96)[-1] == "H12"
    assert len(well_names(384)) == 384 and well_names(384)[-1] == "P24"
    with pytest.raises(InputError):
        well_names(1536)


# --------------------------------------------------------------------------- plate maps


def test_long_map_roles_units_and_format(tmp_path: Path) -> None:
    pm = small_map()
    f = tmp_path / "map.csv"
    pm.to_csv(f, index=False)
    out = read_plate_map(f)
    assert len(out) == 96
    assert set(out["plate_format"]) == {96}
    assert out["well"].iloc[0] == "A01"
    assert set(out["role"]) == {"vehicle", "positive_control", "sample", "empty"}
    s = out.loc[out["role"] == "sample"]
    assert (s["conc_unit1"] == "uM").all()
    # a control's non-molar unit is kept for the record
    ifn = out.loc[out["drug1"] == "IFN-gamma"]
    assert (ifn["conc_unit1"] == "ng/mL").all() and (ifn["control_readout"] == "CXCL10").all()
    # control_readout only on positive controls; absent drugs have conc 0
    assert out.loc[out["role"] != "positive_control", "control_readout"].isna().all()
    assert (out.loc[out["drug2"].isna(), "conc2"] == 0).all()


def test_role_aliases_and_384_inferred() -> None:
    pm = pd.DataFrame({"plate": ["X"] * 3, "well": ["A1", "P24", "B2"], "role": ["DMSO", "pos", "blank"]})
    out = read_plate_map(pm)
    assert list(out["role"]) == ["vehicle", "positive_control", "empty"]
    assert set(out["plate_format"]) == {384}


def _write_map_grids(path: Path, pm: pd.DataFrame) -> None:
    m = read_plate_map(pm)
    long = []
    for field in ("role", "drug1", "conc1", "drug2", "conc2", "cell_line", "control_readout"):
        sub = m[["plate", "well", "plate_format"]].copy()
        vals = m[field]
        if field.startswith("conc"):
            vals = vals.where(m[f"drug{field[-1]}"].notna(), None)
        sub["field"] = field
        sub["value"] = vals.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
        long.append(sub)
    g = pd.concat(long, ignore_index=True)
    write_grid_export(path, g, value="value", key="field")


def test_grid_map_equals_long_map(tmp_path: Path) -> None:
    pm = small_map(("P1", "P2"))
    f = tmp_path / "map_grid.csv"
    _write_map_grids(f, pm)
    text = f.read_text()
    # give the conc grids a unit in their label
    text = text.replace("field=conc1", "field=conc1,unit=uM").replace("field=conc2", "field=conc2,unit=uM")
    f.write_text(text)
    got = read_plate_map(f).sort_values(["plate", "well"]).reset_index(drop=True)
    want = read_plate_map(pm).sort_values(["plate", "well"]).reset_index(drop=True)
    for c in ("role", "drug1", "drug2", "cell_line", "control_readout"):
        assert got[c].fillna("").tolist() == want[c].fillna("").tolist(), c
    np.testing.assert_allclose(got["conc1"], want["conc1"])
    np.testing.assert_allclose(got["conc2"], want["conc2"])
    samp = got["role"] == "sample"
    assert (got.loc[samp, "conc_unit1"] == "uM").all()


def test_excel_map_and_grid_reader(tmp_path: Path) -> None:
    pm = small_map()
    xl = tmp_path / "map.xlsx"
    pm.to_excel(xl, index=False)
    out = read_plate_map(xl)
    assert len(out) == 96
    # an Excel reader export: one sheet per plate, grids labelled with the readout only
    reads = small_reads(pm)
    grid = np.full((20, 13), None, dtype=object)
    grid[0, 0] = "readout: viability"
    grid[1, 1:] = list(range(1, 13))
    for i, r in enumerate(ROWS):
        grid[2 + i, 0] = r
        grid[2 + i, 1:] = reads["viability"].to_numpy()[i * 12:(i + 1) * 12]
    xr = tmp_path / "reads.xlsx"
    with pd.ExcelWriter(xr) as w:
        pd.DataFrame(grid).to_excel(w, sheet_name="P1", header=False, index=False)
        pd.DataFrame(grid).to_excel(w, sheet_name="P2", header=False, index=False)
    rd = read_reader_export(xr)
    assert set(rd["plate"]) == {"P1", "P2"}
    p1 = rd.loc[rd["plate"] == "P1"].set_index("well")["raw"]
    want = reads.assign(well=reads["well"].map(normalise_well)).set_index("well")["viability"]
    np.testing.assert_allclose(p1.loc[want.index].to_numpy(), want.to_numpy())


# --------------------------------------------------------------------------- reader exports


def test_reader_shapes_agree(tmp_path: Path) -> None:
    pm = small_map()
    wide = small_reads(pm)
    a = read_reader_export(wide)
    longlong = wide.melt(id_vars=["plate", "well"], var_name="readout", value_name="value")
    b = read_reader_export(longlong)
    g = tmp_path / "grid.csv"
    write_grid_export(g, read_reader_export(wide).assign(plate_format=96), value="raw")
    c = read_reader_export(g)
    key = ["plate", "readout", "well"]
    for other in (b, c):
        x = a.sort_values(key).reset_index(drop=True)
        y = other.sort_values(key).reset_index(drop=True)
        assert x[key].equals(y[key])
        np.testing.assert_allclose(x["raw"], y["raw"])


def test_grid_with_instrument_header_lines(tmp_path: Path) -> None:
    lines = ["Instrument: EnVision", "Date: 2024-05-01", "Plate: P7", "Readout: CXCL10",
             "," + ",".join(str(i) for i in range(1, 13))]
    for r in ROWS:
        lines.append(r + "," + ",".join(["5"] * 12))
    f = tmp_path / "export.csv"
    f.write_text("\n".join(lines))
    rd = read_reader_export(f)
    assert set(rd["plate"]) == {"P7"} and set(rd["readout"]) == {"CXCL10"} and len(rd) == 96


def test_unlabelled_grid_is_an_error(tmp_path: Path) -> None:
    lines = ["," + ",".join(str(i) for i in range(1, 13))] + [r + "," + ",".join(["1"] * 12) for r in ROWS]
    f = tmp_path / "g.csv"
    f.write_text("\n".join(lines))
    with pytest.raises(InputError, match="not labelled"):
        read_reader_export(f)
    # a default plate and readout make it readable
    assert len(read_reader_export(f, plate="P1", readout="viability")) == 96


def test_non_numeric_reading_names_the_line(tmp_path: Path) -> None:
    lines = ["plate=P1,readout=viability", "," + ",".join(str(i) for i in range(1, 13))]
    for r in ROWS:
        vals = ["1"] * 12
        if r == "C":
            vals[4] = "OVRFLW"
        lines.append(r + "," + ",".join(vals))
    f = tmp_path / "g.csv"
    f.write_text("\n".join(lines))
    with pytest.raises(InputError) as e:
        read_reader_export(f)
    assert "OVRFLW" in str(e.value) and e.value.rows == [5] and e.value.file == "g.csv"


def test_empty_reading_becomes_nan_and_is_flagged() -> None:
    pm = small_map()
    rd = small_reads(pm).astype({"viability": object})
    rd.loc[5, "viability"] = ""
    rd.loc[6, "viability"] = "NA"
    j = join_plates(read_plate_map(pm), read_reader_export(rd))
    miss = j.loc[(j["readout"] == "viability") & j["raw"].isna()]
    assert len(miss) == 2 and (miss["well_flag"] == "missing_read").all()


# --------------------------------------------------------------------------- joins and bad input


def test_join_shape_and_columns() -> None:
    pm = small_map(("P1", "P2"))
    j = join_plates(read_plate_map(pm), read_reader_export(small_reads(pm)))
    assert len(j) == 2 * 96 * 2
    for c in ("plate", "well", "row", "col", "role", "control_readout", "drug1", "conc1", "conc_unit1",
              "drug2", "readout", "raw", "well_flag", "cell_line"):
        assert c in j.columns
    assert not j.duplicated(["plate", "well", "readout"]).any()


def test_duplicated_map_well_is_an_error() -> None:
    pm = small_map()
    pm = pd.concat([pm, pm.iloc[[3]]], ignore_index=True)
    pm.loc[96, "well"] = "a04"  # same well, other spelling
    with pytest.raises(InputError, match="duplicated") as e:
        read_plate_map(pm)
    assert e.value.rows == [4, 97]


def test_duplicated_reader_well_is_an_error() -> None:
    pm = small_map()
    rd = small_reads(pm)
    rd = pd.concat([rd, rd.iloc[[10]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicated") as e:
        read_reader_export(rd)
    assert 11 in e.value.rows


def test_duplicate_across_exports_is_an_error(tmp_path: Path) -> None:
    pm = small_map()
    f = tmp_path / "map.csv"
    pm.to_csv(f, index=False)
    rd = small_reads(pm)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    rd.to_csv(a, index=False)
    rd.iloc[:5].to_csv(b, index=False)
    with pytest.raises(InputError, match="several reader exports"):
        read_plates(f, [a, b])
    # split by readout is fine
    rd[["plate", "well", "viability"]].to_csv(a, index=False)
    rd[["plate", "well", "CXCL10"]].to_csv(b, index=False)
    assert len(read_plates(f, [a, b])) == 192


def test_reads_missing_from_map() -> None:
    pm = small_map()
    rd = small_reads(pm)
    pm_short = pm.loc[pm["well"] != "H12"]
    with pytest.raises(InputError, match="missing from the plate map") as e:
        join_plates(read_plate_map(pm_short), read_reader_export(rd))
    assert e.value.rows == [96]  # the data row of H12 (both readouts)
    j = join_plates(read_plate_map(pm_short), read_reader_export(rd), unmapped="empty")
    h12 = j.loc[j["well"] == "H12"]
    assert len(h12) == 2 and (h12["role"] == "empty").all() and (h12["well_flag"] == "unmapped").all()


def test_map_wells_missing_from_reads() -> None:
    pm = small_map()
    rd = small_reads(pm)
    rd = rd.loc[rd["well"] != "C5"]
    with pytest.raises(InputError, match="no reading"):
        join_plates(read_plate_map(pm), read_reader_export(rd))
    j = join_plates(read_plate_map(pm), read_reader_export(rd), unread="flag")
    c5 = j.loc[j["well"] == "C05"]
    assert len(c5) == 2 and c5["raw"].isna().all() and (c5["well_flag"] == "missing_read").all()


def test_plate_read_but_not_mapped_and_reverse() -> None:
    pm = small_map(("P1", "P2"))
    rd = small_reads(pm)
    with pytest.raises(InputError, match="no reading in the reader export"):
        join_plates(read_plate_map(pm), read_reader_export(rd.loc[rd["plate"] == "P1"]))
    with pytest.raises(InputError, match="not in the plate map"):
        join_plates(read_plate_map(pm.loc[pm["plate"] == "P1"]), read_reader_export(rd))


@pytest.mark.parametrize(("edit", "column", "match"), [
    (lambda d: d.assign(role=d["role"].where(d.index != 7, "teh sample")), "role", "unknown role"),
    (lambda d: d.assign(well=d["well"].where(d.index != 7, "Z9")), "well", "invalid well"),
    (lambda d: d.assign(conc1=d["conc1"].where(d.index != 7, -1.0)), "conc1", "negative"),
    (lambda d: d.assign(conc1=d["conc1"].astype(object).where(d.index != 7, "1 uM")), "conc1", "non-numeric"),
    (lambda d: d.assign(drug1=d["drug1"].where(d.index != 7, None), drug2=d["drug2"].where(d.index != 7, None),
                        conc1=d["conc1"].where(d.index != 7, None), conc2=d["conc2"].where(d.index != 7, None)),
     "drug1", "without any drug"),
    (lambda d: d.assign(drug1=d["drug1"].where(d.index != 7, None)), "drug1", "conc1 given for a well without drug1"),
    (lambda d: d.assign(unit1=d["unit1"].where(d.index != 7, "furlongs")), "conc_unit1", "unknown concentration unit"),
])
def test_bad_map_cells_name_column_and_row(edit, column: str, match: str) -> None:  # type: ignore[no-untyped-def]
    pm = edit(small_map())
    with pytest.raises(InputError, match=match) as e:
        read_plate_map(pm)
    assert e.value.column == column
    assert e.value.rows == [8]


def test_missing_required_columns() -> None:
    with pytest.raises(InputError, match="plate, well and role"):
        read_plate_map(pd.DataFrame({"plate": ["P"], "well": ["A1"]}))
    with pytest.raises(InputError, match="no readout column"):
        read_reader_export(pd.DataFrame({"plate": ["P"], "well": ["A1"]}))


def test_control_characters_in_names_are_rejected() -> None:
    pm = small_map()
    pm.loc[3, "plate"] = "P1\x00"
    with pytest.raises(InputError, match="control character"):
        read_plate_map(pm)
    rd = small_reads(small_map())
    rd = rd.rename(columns={"CXCL10": "CXCL\t10"})
    with pytest.raises(InputError, match="control character"):
        read_reader_export(rd)
