"""The seeded immune-screen generator and the bundled demo screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensitize.core.data import bundled
from sensitize.io.plates import join_plates, read_plate_map, read_plates, read_reader_export
from sensitize.screen.plates import normalise_plates, to_screen_table
from sensitize.screen.qc import plate_qc
from sensitize.screen.simulate import DEMO_SEED, KLASSES, simulate_immune_screen, write_demo


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate_immune_screen(7)


def test_seeded_and_reproducible(sim) -> None:  # type: ignore[no-untyped-def]
    again = simulate_immune_screen(7)
    pd.testing.assert_frame_equal(sim.reads, again.reads)
    pd.testing.assert_frame_equal(sim.plate_map, again.plate_map)
    other = simulate_immune_screen(8, n_library=6, n_matrix_pairs=1)
    assert not np.allclose(other.reads["raw"].to_numpy()[:100], sim.reads["raw"].to_numpy()[:100])


def test_design(sim) -> None:  # type: ignore[no-untyped-def]
    pm = sim.plate_map
    assert (pm.groupby("plate").size() == 384).all()
    assert set(pm["cell_line"]) == {"LLC1", "4T1"}
    assert set(sim.reads["readout"]) == {"viability", "CXCL10"}
    assert len(sim.reads) == 2 * len(pm)
    anchored = pm.loc[(pm["design"] == "anchored") & (pm["role"] == "sample")]
    # the anchor at its fixed concentrations crossed with every library drug's dose series
    combos = anchored.dropna(subset=["drug1", "drug2"])
    assert set(combos["drug2"]) == {"oxaliplatin"} and set(combos["conc2"]) == {0.5, 2.0}
    assert combos["drug1"].nunique() == 20
    assert (combos.groupby(["plate", "drug1"]).size() == 10).all()
    # full matrices for a few pairs
    mat = pm.loc[(pm["design"] == "matrix") & pm["drug2"].notna() & pm["drug1"].notna()]
    assert set(mat["drug1"]) == set(sim.params["matrix_drugs"]) and mat["conc2"].nunique() == 4
    # controls on every plate, in every column
    for role in ("vehicle", "untreated", "positive_control"):
        assert (pm.loc[pm["role"] == role].groupby("plate").size() >= 8).all()
    ctrl = pm.loc[pm["role"].isin(["vehicle", "untreated", "positive_control"])]
    assert (ctrl.groupby("plate")["well"].apply(lambda w: w.str[1:].nunique()) == 24).all()
    assert set(sim.truth["klass"]) <= set(KLASSES)
    assert sim.truth["synergistic_induction"].sum() >= 4


def test_truth_is_consistent(sim) -> None:  # type: ignore[no-untyped-def]
    t = sim.truth
    syn = t.loc[t["klass"] == "synergistic_inducer"]
    assert (syn["interaction_log2_top"] > 0.5).all()
    cyt = t.loc[t["klass"] == "cytotoxic_synergy"]
    assert (cyt["viability_excess_top_pct"] > 1).all()
    ant = t.loc[t["klass"] == "induction_antagonist"]
    assert (ant["interaction_log2_top"] < 0).all()
    none = t.loc[t["klass"].isin(["no_interaction", "additive_inducer"])]
    assert np.allclose(none["interaction_log2_top"], 0) and np.allclose(none["viability_excess_top_pct"], 0)


def test_artefacts_planted(sim) -> None:  # type: ignore[no-untyped-def]
    tw = sim.truth_wells
    assert 0 < tw["dead"].mean() < 0.05
    assert set(np.round(tw["edge_log_factor"], 6)) == {0.0, -0.15, -0.3}
    wells = join_plates(read_plate_map(sim.plate_map), read_reader_export(sim.reads))
    # dead wells read near background
    m = wells.merge(tw, on=["plate", "well", "role"])
    dead_v = m.loc[m["dead"] & (m["readout"] == "viability"), "raw"]
    assert dead_v.max() < 1000
    # the failed plate: the killing control does not kill
    failed = sim.params["failed_plate"]
    f = wells.loc[(wells["plate"] == failed) & (wells["readout"] == "viability")]
    kill = f.loc[f["control_readout"] == "viability", "raw"].median()
    veh = f.loc[f["role"] == "vehicle", "raw"].median()
    assert kill > 0.5 * veh
    q = plate_qc(wells, robust=True)
    assert set(q.failed["plate"]) == {failed}


def _observed_interaction(st: pd.DataFrame) -> pd.DataFrame:
    """Largest log2 excess of CXCL10 per viable cell over log-additivity at the top anchor dose."""
    c = st.loc[(st["readout"] == "CXCL10") & st["block_id"].str.contains("anchored")]
    atop = c["conc2"].max()
    g = c.groupby(["cell_line", "drug1", "conc1", "conc2"])["response"].median()
    rec = []
    for (cl, d), sub in g.groupby(level=[0, 1]):
        s = sub.droplevel([0, 1])
        a0 = s.get((0.0, atop), np.nan)
        doses = sorted({i[0] for i in s.index if i[0] > 0})
        vals = [s[(x, atop)] - s.get((x, 0.0), np.nan) - a0 for x in doses if (x, atop) in s.index]
        vals = [v for v in vals if np.isfinite(v)]
        rec.append((cl, d, max(vals) if vals else np.nan))
    return pd.DataFrame(rec, columns=["cell_line", "drug", "observed"])


def test_planted_synergy_is_recoverable(sim) -> None:  # type: ignore[no-untyped-def]
    wells = join_plates(read_plate_map(sim.plate_map), read_reader_export(sim.reads))
    norm = normalise_plates(wells, correction="treatment_polish", polish_scale="log", robust_qc=True)
    st = to_screen_table(norm, per_viable=True, block_by=["design"]).table
    obs = _observed_interaction(st).merge(sim.truth, on=["cell_line", "drug"])
    syn = obs.loc[obs["klass"] == "synergistic_inducer", "observed"]
    rest = obs.loc[obs["klass"] != "synergistic_inducer", "observed"]
    assert syn.median() - rest.median() > 0.4
    assert obs[["observed", "interaction_log2_top"]].corr(method="spearman").iloc[0, 1] > 0.4


def test_write_demo_and_bundled_copy_agree(tmp_path: Path) -> None:
    paths = write_demo(tmp_path)
    for name in ("plate_map.csv", "reader_export.csv", "truth.csv", "truth_plates.csv",
                 "truth_dead_wells.csv", "params.json", "README.md"):
        assert (tmp_path / name).is_file()
    total = sum(p.stat().st_size for p in paths.values())
    assert total < 400_000
    demo = bundled("demo_screen")
    if not (demo / "plate_map.csv").is_file():
        pytest.fail("the bundled demo screen is missing; run write_demo into src/sensitize/data/demo_screen")
    for name in ("plate_map.csv", "reader_export.csv", "truth.csv", "truth_plates.csv", "truth_dead_wells.csv"):
        assert (tmp_path / name).read_text() == (demo / name).read_text(), name


def test_bundled_demo_full_path() -> None:
    demo = bundled("demo_screen")
    wells = read_plates(demo / "plate_map.csv", demo / "reader_export.csv")
    truth_plates = pd.read_csv(demo / "truth_plates.csv")
    failed = set(truth_plates.loc[truth_plates["failed"], "plate"])
    assert len(failed) == 1
    for robust in (False, True):
        assert set(plate_qc(wells, robust=robust).failed["plate"]) == failed
    norm = normalise_plates(wells, correction="treatment_polish", polish_scale="log")
    st = to_screen_table(norm)
    assert not set(st.table["plate"]) & failed
    assert DEMO_SEED == 12


def test_cli_demo_and_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sensitize.cli.main import main

    assert main(["plates", "demo", "-o", str(tmp_path / "demo")]) == 0
    out = tmp_path / "out"
    rc = main(["plates", "process", str(tmp_path / "demo" / "plate_map.csv"),
               str(tmp_path / "demo" / "reader_export.csv"), "-o", str(out), "--robust-qc"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "QC FAIL 4T1-A1-R2" in printed
    for name in ("wells_normalised.csv", "plate_qc.csv", "screen_table.csv", "excluded_wells.csv", "qc_report.txt"):
        assert (out / name).is_file()
    assert "FAIL 4T1-A1-R2" in (out / "qc_report.txt").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,well,role\nP1,A1,sample\n")
    assert main(["plates", "process", str(bad), str(tmp_path / "demo" / "reader_export.csv"), "-o", str(out)]) == 2
    assert "sample well(s) without any drug" in capsys.readouterr().err
