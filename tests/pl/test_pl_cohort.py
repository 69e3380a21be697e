"""Cohort plots return matplotlib Figures built from result objects."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from sensitize.cohort.analyze import analyze_cohort
from sensitize.cohort.data import build_cohort
from sensitize.cohort.simulate import simulate_cohort
from sensitize.cohort.survival import meta_analysis
from sensitize.pl.cohort import (
    plot_forest,
    plot_km,
    plot_maxstat,
    plot_roc,
    plot_scores_by_response,
    plot_time_auc,
)


@pytest.fixture(scope="module")
def res():  # type: ignore[no-untyped-def]
    sim = simulate_cohort(60, 10, seed=1)
    c = build_cohort(sim.expression, sim.clinical)
    return analyze_cohort(c, ["CXCL9"], ["CYT"], endpoints=["os"], n_perm=20, exact_gauss=False)


def test_all_plots(res) -> None:  # type: ignore[no-untyped-def]
    figs = [
        plot_km(res.km[("CXCL9", "os", "median")], title="CXCL9"),
        plot_km(res.km[("CXCL9", "os", "tertile")], at_risk_times=[0, 10, 20]),
        plot_roc(res.response_result),
        plot_forest(res.table),
        plot_scores_by_response(res.response_result),
        plot_maxstat(res.maxstat[("CXCL9", "os")], "CXCL9"),
        plot_time_auc({"CXCL9": res.time_auc[("CXCL9", "os")]}),
    ]
    tab = res.table.assign(cohort=["a", "b"])
    m = meta_analysis(tab.rename(columns={"cox_coef": "coef", "cox_se": "se"}))
    figs.append(plot_forest(tab, label_col="cohort", hr_col="HR", lower_col="HR_lower95",
                            upper_col="HR_upper95", meta=m))
    for f in figs:
        assert isinstance(f, Figure)
        assert f.axes[0].get_xlabel() or f.axes[0].get_ylabel()
        plt.close(f)
