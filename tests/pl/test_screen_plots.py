"""Screen plots draw exactly the numbers of the result objects, in both back ends."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure

from sensitize.core.data import bundled
from sensitize.io.plates import read_plates
from sensitize.io.screen import read_screen
from sensitize.pl import screen as ps
from sensitize.screen.blocks import prepare_blocks
from sensitize.screen.doseresponse import ll4
from sensitize.screen.engine import ScoreOptions, ScreenResult, score_prepared, score_screen
from sensitize.screen.immune import RankingResult, rank_combinations
from sensitize.screen.plates import normalise_plates, to_screen_table
from sensitize.screen.schema import validate_screen
from sensitize.screen.simulate import simulate_immune_screen
from sensitize.screen.synthetic import synthetic_screen

BACKENDS = ("matplotlib", "plotly")
FIG = {"matplotlib": Figure, "plotly": go.Figure}


def _score(df: pd.DataFrame, **kw: Any) -> ScreenResult:
    """Score with the fast least-squares curve fitter when the engine offers a choice.

    The plots only read the result tables, so which fitter made them does not matter here;
    the SynergyFinder-exact ``drc`` fitter is much slower.
    """
    if "fitter" in inspect.signature(score_screen).parameters:
        return score_screen(df, fitter="lm", **kw)
    if "fitter" in getattr(ScoreOptions, "__dataclass_fields__", {}):
        return score_prepared(prepare_blocks(validate_screen(df)), ScoreOptions(fitter="lm", **kw))
    return score_screen(df, **kw)


@pytest.fixture(scope="module")
def mathews() -> ScreenResult:
    df = read_screen(bundled("examples", "mathews_screening_data.csv"), response_kind="viability")
    return _score(df, n_boot=0)


@pytest.fixture(scope="module")
def multi() -> ScreenResult:
    """Synthetic MuSyC screen, two readouts of the same blocks, replicates (bootstrap CIs)."""
    a = synthetic_screen(3, grid=5, replicates=2, seed=1)
    b = a.assign(readout="confluence", response=a["response"] * 0.9 + 5.0)
    return _score(pd.concat([a, b], ignore_index=True), n_boot=10, seed=1)


@pytest.fixture(scope="module")
def three() -> ScreenResult:
    """One three-drug block (Bliss-independent Hill curves)."""
    lv = [0.0, 1.0, 3.0, 9.0]
    rows = [{"block_id": "T3", "drug1": "A", "drug2": "B", "drug3": "C", "conc1": c1, "conc2": c2, "conc3": c3,
             "conc_unit1": "uM", "conc_unit2": "uM", "conc_unit3": "uM", "readout": "viability",
             "response_kind": "viability", "response": 100 / ((1 + c1 / 2) * (1 + c2 / 3) * (1 + c3))}
            for c1, c2, c3 in itertools.product(lv, lv, lv)]
    return _score(pd.DataFrame(rows), n_boot=0)


@pytest.fixture(scope="module")
def ranking() -> RankingResult:
    sim = simulate_immune_screen(3, n_library=6)
    norm = normalise_plates(read_plates(sim.plate_map, sim.reads), correction="treatment_polish", polish_scale="log")
    return rank_combinations(to_screen_table(norm, induction_scale="log2_fc", block_by=["design"]))


def _cells(res: ScreenResult, block: object, readout: str) -> pd.DataFrame:
    c = res.cells
    return c[(c["block_id"].astype(str) == str(block)) & (c["readout"] == readout)]


def _pivot(res: ScreenResult, block: object, readout: str, value: str) -> np.ndarray:
    p = _cells(res, block, readout).pivot(index="conc2", columns="conc1", values=value)
    return p.sort_index().sort_index(axis=1).to_numpy(dtype=float)


def _is_fit(label: object) -> bool:
    return str(label).startswith(("LL.4 fit", "L.4 fit"))


def _curve(res: ScreenResult, block: object, readout: str, k: int) -> pd.Series:
    cv = res.curves
    return cv[(cv["block_id"].astype(str) == str(block)) & (cv["readout"] == readout) & (cv["drug_index"] == k)].iloc[0]


# ------------------------------------------------------------------ dose-response


def test_dose_response_matplotlib_draws_points_curve_and_ic50(mathews: ScreenResult) -> None:
    fig = ps.dose_response(mathews, 2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    cells = _cells(mathews, 2, "response")
    for k, ax in zip((1, 2), fig.axes):
        other = 3 - k
        mono = cells[cells[f"conc{other}"] == 0].sort_values(f"conc{k}")
        nz = mono[mono[f"conc{k}"] > 0]
        obs = next(c for c in ax.collections if c.get_label() == "observed")
        np.testing.assert_allclose(obs.get_offsets()[:, 0], nz[f"conc{k}"])
        np.testing.assert_allclose(obs.get_offsets()[:, 1], nz["response"])
        zero = next(c for c in ax.collections if c.get_label() == "dose 0")
        np.testing.assert_allclose(zero.get_offsets()[:, 1], mono.loc[mono[f"conc{k}"] == 0, "response"])
        assert zero.get_offsets()[0, 0] < nz[f"conc{k}"].min()  # dose 0 drawn left of the lowest dose
        f = _curve(mathews, 2, "response", k)
        line = next(ln for ln in ax.get_lines() if _is_fit(ln.get_label()))
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        np.testing.assert_allclose(ys, ll4(xs, f["b"], f["c"], f["d"], f["e"]))
        assert ax.get_xscale() == "log"
        assert "nM" in ax.get_xlabel() and "% inhibition" in ax.get_ylabel()
    # ibrutinib (drug 2) has its IC50 inside the tested range: the curve passes through it
    f = _curve(mathews, 2, "response", 2)
    ax = fig.axes[1]
    line = next(ln for ln in ax.get_lines() if _is_fit(ln.get_label()))
    xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    i = int(np.argmin(np.abs(xs - f["e"])))
    assert xs[i] == pytest.approx(f["e"]) and ys[i] == pytest.approx((f["c"] + f["d"]) / 2)
    ic = next(ln for ln in ax.get_lines() if str(ln.get_label()).startswith("IC50"))
    assert ic.get_xdata()[0] == pytest.approx(f["ic50"]) and ic.get_ydata()[0] == pytest.approx((f["c"] + f["d"]) / 2)
    assert f"{f['ic50']:.3g} nM" in str(ic.get_label())
    # an IC50 outside the drawn dose range is stated in the panel title instead of drawn
    for k, ax in zip((1, 2), fig.axes):
        f = _curve(mathews, 2, "response", k)
        doses = _cells(mathews, 2, "response")[f"conc{k}"]
        inside = doses[doses > 0].min() <= f["e"] <= doses.max()
        drawn = any(str(ln.get_label()).startswith("IC50") for ln in ax.get_lines())
        assert drawn == inside
        assert inside or "IC50" in ax.get_title()


def test_dose_response_plotly(mathews: ScreenResult) -> None:
    fig = ps.dose_response(mathews, 2, drug="ibrutinib", backend="plotly")
    assert isinstance(fig, go.Figure)
    f = _curve(mathews, 2, "response", 2)
    by = {t.name: t for t in fig.data}
    curve = next(t for n, t in by.items() if " fit" in n)
    i = int(np.argmin(np.abs(np.asarray(curve.x) - f["e"])))
    assert curve.y[i] == pytest.approx((f["c"] + f["d"]) / 2)
    cells = _cells(mathews, 2, "response")
    nz = cells[(cells["conc1"] == 0) & (cells["conc2"] > 0)].sort_values("conc2")
    np.testing.assert_allclose(by["ibrutinib: observed"].y, nz["response"])
    np.testing.assert_allclose(by["ibrutinib: observed"].x, nz["conc2"])
    ic = next(t for n, t in by.items() if "IC50" in n)
    assert ic.x[0] == pytest.approx(f["e"])
    assert fig.layout.xaxis.type == "log" and "nM" in fig.layout.xaxis.title.text
    assert fig.layout.xaxis.ticktext[0] == "0"


@pytest.mark.parametrize("backend", BACKENDS)
def test_failed_fits_are_flagged_not_hidden(multi: ScreenResult, backend: str) -> None:
    cv = multi.curves.copy()
    is_k = (cv["block_id"] == 2) & (cv["readout"] == "viability")
    cv.loc[is_k & (cv["drug_index"] == 1), "converged"] = False  # not converged: drawn dashed
    cv.loc[is_k & (cv["drug_index"] == 2), ["b", "c", "d", "e"]] = np.nan  # failed: no curve, said so
    if "model" in cv.columns:
        cv.loc[is_k & (cv["drug_index"] == 2), "model"] = "failed"
    res = dataclasses.replace(multi, curves=cv)
    fig = ps.dose_response(res, 2, "viability", backend=backend)
    if backend == "matplotlib":
        ax1, ax2 = fig.axes
        line = next(ln for ln in ax1.get_lines() if _is_fit(ln.get_label()))
        assert line.get_linestyle() == "--" and "NOT CONVERGED" in str(line.get_label())
        assert "did NOT converge" in ax1.get_title()
        assert not any(_is_fit(ln.get_label()) for ln in ax2.get_lines())
        assert "fit FAILED" in ax2.get_title()
        assert len(next(c for c in ax2.collections if c.get_label() == "observed").get_offsets()) == 4
    else:
        curves = [t for t in fig.data if " fit" in t.name]
        assert len(curves) == 1
        assert curves[0].line.dash == "dash" and "NOT CONVERGED" in curves[0].name
        notes = " ".join(a.text for a in fig.layout.annotations)
        assert "did NOT converge" in notes and "fit FAILED" in notes
    # the unmodified result draws solid curves
    fig2 = ps.dose_response(multi, 2, "viability", drug=1)
    good = multi.curves[(multi.curves["block_id"] == 2) & (multi.curves["readout"] == "viability")
                        & (multi.curves["drug_index"] == 1)].iloc[0]
    style = next(ln for ln in fig2.axes[0].get_lines() if _is_fit(ln.get_label())).get_linestyle()
    assert style == ("-" if good["converged"] and not good["flat"] else "--")


def test_dose_response_three_drugs(three: ScreenResult) -> None:
    fig = ps.dose_response(three, "T3")
    assert len(fig.axes) == 3
    f = _curve(three, "T3", "viability", 3)
    c = _cells(three, "T3", "viability")
    mono = c[(c["conc1"] == 0) & (c["conc2"] == 0) & (c["conc3"] > 0)].sort_values("conc3")
    obs = next(col for col in fig.axes[2].collections if col.get_label() == "observed")
    np.testing.assert_allclose(obs.get_offsets()[:, 1], mono["response"])
    assert f["e"] == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="two-drug"):
        ps.landscape(three, "T3")
    with pytest.raises(ValueError, match="two-drug"):
        ps.response_matrix(three, "T3", backend="plotly")


# ------------------------------------------------------------------ landscapes


@pytest.mark.parametrize("model", ["ZIP", "Bliss", "HSA", "Loewe"])
def test_landscape_heatmap_equals_cell_deltas(mathews: ScreenResult, model: str) -> None:
    want = _pivot(mathews, 1, "response", f"{model}_synergy")
    fig = ps.landscape(mathews, 1, model=model)
    img = fig.axes[0].images[0]
    np.testing.assert_allclose(np.asarray(img.get_array()), want)
    norm = img.norm
    assert norm.vmin == pytest.approx(-norm.vmax) and norm(0.0) == pytest.approx(0.5)  # centred at 0
    score = float(mathews.table.loc[mathews.table["block_id"] == 1, f"{model}_synergy"].iloc[0])
    assert f"{model} synergy = {score:.2f}" in fig.axes[0].get_title()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == want.size and f"{want[-1, -1]:.1f}" in texts
    pfig = ps.landscape(mathews, 1, model=model, backend="plotly")
    hm = pfig.data[0]
    assert isinstance(hm, go.Heatmap)
    np.testing.assert_allclose(np.asarray(hm.z, dtype=float), want)
    assert hm.zmid == 0 and hm.zmin == pytest.approx(-hm.zmax)
    assert "ispinesib" in pfig.layout.xaxis.title.text and "nM" in pfig.layout.yaxis.title.text


def test_landscape_surface_passes_through_cells(mathews: ScreenResult) -> None:
    want = _pivot(mathews, 2, "response", "ZIP_synergy")
    pfig = ps.landscape(mathews, 2, kind="surface", backend="plotly")
    surf = next(t for t in pfig.data if isinstance(t, go.Surface))
    z = np.asarray(surf.z, dtype=float)
    np.testing.assert_allclose(z[::10, ::10], want)
    assert z.shape == (10 * (want.shape[0] - 1) + 1, 10 * (want.shape[1] - 1) + 1)
    # pchip does not overshoot the cell values along the drug axes
    assert z.max() <= want.max() + 1e-9 and z.min() >= want.min() - 1e-9
    nodes = next(t for t in pfig.data if isinstance(t, go.Scatter3d))
    np.testing.assert_allclose(np.asarray(nodes.z, dtype=float), want.ravel())
    # x positions are log10 doses; dose 0 sits one dilution step below the lowest dose
    x1 = np.sort(_cells(mathews, 2, "response")["conc1"].unique())
    np.testing.assert_allclose(np.asarray(surf.x)[::10][1:], np.log10(x1[1:]))
    assert np.asarray(surf.x)[0] == pytest.approx(np.log10(x1[1] / 4.0))
    fig = ps.landscape(mathews, 2, kind="surface")
    assert isinstance(fig, Figure) and fig.axes[0].name == "3d"
    assert "ZIP delta" in fig.axes[0].get_zlabel()


def test_response_matrix_equals_observed(multi: ScreenResult, mathews: ScreenResult) -> None:
    for res, block, ro in ((mathews, 1, "response"), (multi, 2, "confluence")):
        want = _pivot(res, block, ro, "response")
        fig = ps.response_matrix(res, block, ro)
        np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), want)
        assert "% inhibition" in fig.axes[1].get_ylabel()  # colour bar
        pfig = ps.response_matrix(res, block, ro, backend="plotly")
        np.testing.assert_allclose(np.asarray(pfig.data[0].z, dtype=float), want)
    # the effect scale of a viability readout: 100 - mean viability of the replicates
    raw = read_screen(bundled("examples", "mathews_screening_data.csv"), response_kind="viability")
    r0 = raw[(raw["block_id"] == 1) & (raw["conc1"] == 0) & (raw["conc2"] == 0)]["response"].mean()
    assert _pivot(mathews, 1, "response", "response")[0, 0] == pytest.approx(100 - r0)


# ------------------------------------------------------------------ rankings


@pytest.mark.parametrize("backend", BACKENDS)
def test_synergy_ranking(multi: ScreenResult, backend: str) -> None:
    t = multi.table.sort_values("Bliss_synergy", ascending=False).head(4)
    fig = ps.synergy_ranking(multi, model="Bliss", top=4, backend=backend)
    assert isinstance(fig, FIG[backend])
    lab0 = f"{t['drug1'].iloc[0]} + {t['drug2'].iloc[0]} ({t['cell_line'].iloc[0]}) [{t['readout'].iloc[0]}]"
    if backend == "matplotlib":
        ax = fig.axes[0]
        dots = next(c for c in ax.collections if c.get_offsets().shape[0] == 4 and c.get_label().startswith("_"))
        np.testing.assert_allclose(dots.get_offsets()[:, 0], t["Bliss_synergy"])
        ticks = dict(zip(ax.get_yticks(), [x.get_text() for x in ax.get_yticklabels()]))
        assert ticks[max(ticks)] == lab0  # best on top
        assert "% inhibition" in ax.get_xlabel()
        assert any(txt.get_text() == f"p = {ps._fmt_p(t['Bliss_synergy_p_value'].iloc[0])}" for txt in ax.texts)
    else:
        tr = fig.data[0]
        np.testing.assert_allclose(tr.x, t["Bliss_synergy"])
        assert tr.y[0] == lab0
        np.testing.assert_allclose(tr.error_x.array, t["Bliss_synergy_ci_high"] - t["Bliss_synergy"])
        np.testing.assert_allclose(tr.error_x.arrayminus, t["Bliss_synergy"] - t["Bliss_synergy_ci_low"])
    one = ps.synergy_ranking(multi, readout="viability", top=50, backend="plotly")
    assert len(one.data[0].x) == 3


def test_synergy_ranking_ci_bars_matplotlib(multi: ScreenResult) -> None:
    fig = ps.synergy_ranking(multi, model="ZIP", top=6)
    t = multi.table.sort_values("ZIP_synergy", ascending=False)
    ax = fig.axes[0]
    segs = next(c for c in ax.collections if c.get_label() == "bootstrap 95% CI" or "LineCollection" in type(c).__name__)
    ends = np.array([[s[0][0], s[1][0]] for s in segs.get_segments()])
    np.testing.assert_allclose(np.sort(ends[:, 0]), np.sort(t["ZIP_synergy_ci_low"]))
    np.testing.assert_allclose(np.sort(ends[:, 1]), np.sort(t["ZIP_synergy_ci_high"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pareto(ranking: RankingResult, backend: str) -> None:
    t = ranking.table
    lines = sorted(t["cell_line"].unique())
    fig = ps.pareto(ranking, backend=backend)
    assert isinstance(fig, FIG[backend])
    cl = lines[0]
    s = t[t["cell_line"] == cl]
    ok = s["cytotoxicity"].notna()
    front = s[s["pareto"] & ok].sort_values("cytotoxicity")
    if backend == "matplotlib":
        assert len(fig.axes) == len(lines)
        ax = fig.axes[0]
        pts = next(c for c in ax.collections if c.get_label() == "Pareto front").get_offsets()
        got = pd.DataFrame(np.asarray(pts), columns=["x", "y"]).sort_values("x")
        np.testing.assert_allclose(got["x"], front["cytotoxicity"])
        np.testing.assert_allclose(got["y"], front["induction_synergy"])
        dom = next(c for c in ax.collections if c.get_label() == "dominated").get_offsets()
        assert len(dom) == int((~s["pareto"] & ok).sum())
        assert "cytotoxicity" in ax.get_xlabel() and "CXCL10" in ax.get_ylabel()
    else:
        tr = next(d for d in fig.data if d.name == f"{cl}: Pareto front")
        o = np.argsort(np.asarray(tr.x))
        np.testing.assert_allclose(np.asarray(tr.x)[o], front["cytotoxicity"])
        np.testing.assert_allclose(np.asarray(tr.y)[o], front["induction_synergy"])
        assert "%{customdata[1]" in tr.hovertemplate and tr.text[0]  # hover: q-value, label
    one = ps.pareto(ranking, cell_line=lines[-1], backend=backend)
    assert len(one.axes if backend == "matplotlib" else [d for d in one.data if "front" in d.name.lower()]) >= 1
    with pytest.raises(KeyError, match="unknown cell_line"):
        ps.pareto(ranking, cell_line="HeLa", backend=backend)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_clear_errors(mathews: ScreenResult, multi: ScreenResult, backend: str) -> None:
    for fn in (ps.dose_response, ps.landscape, ps.response_matrix):
        with pytest.raises(KeyError, match="unknown block_id 99"):
            fn(mathews, 99, backend=backend)
        with pytest.raises(ValueError, match="several readouts"):
            fn(multi, 1, backend=backend)
        with pytest.raises(KeyError, match="no readout 'ATP'"):
            fn(multi, 1, "ATP", backend=backend)
    assert isinstance(ps.landscape(mathews, "1", backend=backend), FIG[backend])  # "1" finds block 1
    with pytest.raises(ValueError, match="unknown model"):
        ps.landscape(mathews, 1, model="CI", backend=backend)
    with pytest.raises(ValueError, match="unknown model"):
        ps.synergy_ranking(mathews, model="zip", backend=backend)
    with pytest.raises(ValueError, match="unknown kind"):
        ps.landscape(mathews, 1, kind="contour", backend=backend)
    with pytest.raises(KeyError, match="no drug 'aspirin'"):
        ps.dose_response(mathews, 1, drug="aspirin", backend=backend)
    with pytest.raises(KeyError, match="no blocks with readout"):
        ps.synergy_ranking(multi, readout="ATP", backend=backend)
    with pytest.raises(ValueError, match="top must be"):
        ps.synergy_ranking(multi, top=0, backend=backend)
    with pytest.raises(ValueError, match="unknown backend"):
        ps.landscape(mathews, 1, backend="bokeh")


def test_model_not_scored_and_rejected_block() -> None:
    df = read_screen(bundled("examples", "mathews_screening_data.csv"), response_kind="viability")
    res = _score(df, models=("HSA",), n_boot=0, sensitivity=False)
    with pytest.raises(ValueError, match="was not scored"):
        ps.landscape(res, 1)
    with pytest.raises(ValueError, match="was not scored"):
        ps.synergy_ranking(res, model="ZIP")
    assert isinstance(ps.landscape(res, 1, model="HSA"), Figure)
    # a block whose grid is incomplete is rejected by the engine; the plot says why
    holed = df[~((df["block_id"] == 2) & (df["conc1"] > 0) & (df["conc2"] > 0)).to_numpy() | (df.index % 7 != 0)]
    res2 = _score(holed, models=("HSA",), n_boot=0, sensitivity=False)
    assert not res2.rejected.empty
    with pytest.raises(KeyError, match="rejected"):
        ps.response_matrix(res2, 2)


def test_nan_scores_are_counted_not_hidden(multi: ScreenResult) -> None:
    t = multi.table.copy()
    t.loc[0, "ZIP_synergy"] = np.nan
    res = dataclasses.replace(multi, table=t)
    fig = ps.synergy_ranking(res, top=50)
    assert "1 block(s) without a score" in fig.axes[0].get_title()
