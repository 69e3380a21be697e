"""In vivo plots return figures built from result objects."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sensitize.invivo import GrowthStudy, simulate_study
from sensitize.pl import invivo as pl


def test_plots() -> None:
    study = GrowthStudy(simulate_study(seed=1, n_per_arm=4))
    syn = study.synergy(drug_a="Targeted", drug_b="anti-PD-1", combination="Targeted+anti-PD-1",
                        time_resolved=False, n_boot=20, ra_nsim=50)
    figs = [pl.growth_curves(study), pl.growth_curves(study, log=True), pl.synergy_over_time(syn),
            pl.synergy_over_time(syn, basis="auc"), pl.kaplan_meier(study.survival(endpoint=1500)),
            pl.waterfall(study.response())]
    for f in figs:
        assert isinstance(f, Figure)
        assert all(ax.get_xlabel() for ax in f.axes)
        plt.close(f)
