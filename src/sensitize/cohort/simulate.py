"""Seeded synthetic cohorts with known truth, for demos and fast tests.

A latent immune-infiltration level :math:`z_s \\sim N(0, 1)` per sample drives

* the expression of the immune genes of the built-in signatures
  (:math:`x_{gs} = \\mu_g + \\lambda z_s + \\varepsilon_{gs}` on a log2(TPM + 1) scale);
* response, :math:`P(R) = \\mathrm{logit}^{-1}(\\alpha + \\gamma z_s)`, reported as RECIST
  (responders CR/PR, non-responders SD/PD) and as R/NR labels;
* overall and progression-free survival, exponential with hazard
  :math:`\\lambda_0 \\exp(\\beta z_s)` (``survival_model="linear"``) or a step at a true
  cut-point of ``z`` (``survival_model="threshold"``), with independent exponential
  censoring (and administrative censoring at ``follow_up``).

Background genes carry no signal.  ``truth`` records every parameter and the latent
values, so tests can check that the analysis recovers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sensitize.cohort.signatures import BUILTIN

_IMMUNE = sorted({g.split("|")[0] for s in BUILTIN.values() for g in s.genes})
_HOUSEKEEPING = sorted({g.split("|")[0] for s in BUILTIN.values() for g in s.housekeeping}
                       | {"ACTB", "GAPDH"})


@dataclass
class SimulatedCohort:
    """Expression (genes x samples), clinical table (one row per sample) and the truth."""

    expression: pd.DataFrame
    clinical: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)


def simulate_cohort(
    n_samples: int = 120,
    n_background: int = 300,
    *,
    seed: int = 0,
    loading: float = 1.0,
    noise_sd: float = 0.5,
    response_intercept: float = -0.6,
    response_slope: float = 1.5,
    survival_model: str = "linear",
    log_hr: float = -0.6,
    threshold_quantile: float = 0.6,
    threshold_log_hr: float = -1.2,
    baseline_hazard: float = 0.06,
    censoring_rate: float = 0.02,
    follow_up: float = 60.0,
    extra_genes: dict[str, float] | None = None,
) -> SimulatedCohort:
    """Simulate an immunotherapy cohort with known truth.

    Parameters
    ----------
    n_samples, n_background
        Samples and signal-free background genes.
    seed
        Seed of the random generator (every random step uses it).
    loading, noise_sd
        Immune genes: log2 expression = gene mean + ``loading`` * z + N(0, ``noise_sd``).
    response_intercept, response_slope
        Logistic model of response on z.
    survival_model
        ``"linear"``: log hazard ratio ``log_hr`` per unit of z (= per SD, as z ~ N(0,1));
        ``"threshold"``: log hazard ratio ``threshold_log_hr`` for z above its
        ``threshold_quantile`` sample quantile, no effect otherwise.
    baseline_hazard, censoring_rate, follow_up
        Monthly event and censoring hazards and the administrative end of follow-up.
    extra_genes
        ``{gene: loading}`` for extra signal genes (e.g. ``{"MT2A": -0.8}``).
    """
    rng = np.random.default_rng(seed)
    samples = [f"S{i:03d}" for i in range(1, n_samples + 1)]
    z = rng.standard_normal(n_samples)
    genes: list[str] = []
    rows: list[np.ndarray] = []
    loadings: dict[str, float] = {}
    for g in _IMMUNE:
        mu = rng.uniform(2.0, 6.0)
        genes.append(g)
        rows.append(mu + loading * z + rng.normal(0, noise_sd, n_samples))
        loadings[g] = loading
    for g, lam in (extra_genes or {}).items():
        mu = rng.uniform(3.0, 8.0)
        genes.append(g)
        rows.append(mu + lam * z + rng.normal(0, noise_sd, n_samples))
        loadings[g] = lam
    for g in _HOUSEKEEPING:
        genes.append(g)
        rows.append(rng.uniform(6.0, 10.0) + rng.normal(0, 0.2, n_samples))
        loadings[g] = 0.0
    for i in range(n_background):
        genes.append(f"BG{i:04d}")
        rows.append(rng.uniform(0.5, 9.0) + rng.normal(0, 1.0, n_samples))
    expr = pd.DataFrame(np.clip(np.vstack(rows), 0.0, None), index=genes, columns=samples)
    expr.index.name = "gene"

    # response
    p_r = 1 / (1 + np.exp(-(response_intercept + response_slope * z)))
    resp = rng.uniform(size=n_samples) < p_r
    u = rng.uniform(size=n_samples)
    recist = np.where(resp, np.where(u < 0.25, "CR", "PR"), np.where(u < 0.4, "SD", "PD"))

    # survival
    if survival_model == "linear":
        lp = log_hr * z
        cut_z = None
    elif survival_model == "threshold":
        cut_z = float(np.quantile(z, threshold_quantile))
        lp = np.where(z > cut_z, threshold_log_hr, 0.0)
    else:
        raise ValueError(f"unknown survival_model {survival_model!r}")
    haz = baseline_hazard * np.exp(lp)

    def endpoint(scale: float) -> tuple[np.ndarray, np.ndarray]:
        t_ev = rng.exponential(1 / (haz * scale))
        t_c = np.minimum(rng.exponential(1 / censoring_rate, n_samples), follow_up)
        t = np.minimum(t_ev, t_c)
        return np.round(np.maximum(t, 0.05), 3), (t_ev <= t_c).astype(int)

    os_t, os_e = endpoint(1.0)
    pfs_t, pfs_e = endpoint(2.0)
    pfs_t = np.minimum(pfs_t, os_t)
    pfs_e = np.where(pfs_t < os_t, pfs_e, np.maximum(pfs_e, os_e))
    clinical = pd.DataFrame({
        "sample": samples,
        "recist": recist,
        "response": np.where(resp, "R", "NR"),
        "os_months": os_t, "os_event": os_e,
        "pfs_months": pfs_t, "pfs_event": pfs_e,
        "age": np.round(rng.normal(62, 10, n_samples)).astype(int),
        "sex": rng.choice(["F", "M"], n_samples),
    })
    truth = {
        "seed": seed, "latent": pd.Series(z, index=samples, name="z"), "loadings": loadings,
        "response_intercept": response_intercept, "response_slope": response_slope,
        "survival_model": survival_model, "log_hr_per_sd_latent": log_hr,
        "threshold_z": cut_z, "threshold_log_hr": threshold_log_hr,
        "time_unit": "months", "expression_unit": "log2(TPM + 1)",
        "signal_genes": [g for g, lam in loadings.items() if lam != 0],
    }
    return SimulatedCohort(expr, clinical, truth)
