"""Seeded simulation of a realistic syngeneic tumour-growth study.

Five arms (vehicle, chemotherapy, targeted drug, anti-PD-1, targeted + anti-PD-1) of
``n_per_arm`` mice implanted with a syngeneic tumour (e.g. LLC1 or 4T1), randomised at
about 100 mm³ and measured by caliper every 3-4 days.  Each mouse grows exponentially,
``V(t) = V0 · exp(r t)``, with a mouse-specific rate ``r ~ N(r_arm, sd_rate)``; the
immunotherapy arms contain *responders* (probability ``p_responder``) whose tumour
shrinks (``r < 0``) after a delay and may reach 0 (complete regression, no palpable
tumour).  Measurements carry multiplicative noise (log-normal, ``sd_noise``) and are
recorded as length and width (``V = L·W²/2``, width/length ratio ~ U(0.6, 0.9)).  A mouse is
sacrificed at the first measurement with ``V >= endpoint`` (an event); with probability
``p_withdrawal`` it is withdrawn for another reason (ulceration, weight loss) at a random
day (censored); survivors are censored at the end of the study.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sensitize.invivo.schema import ANIMAL, CENSORED, DAY, GROUP, VOLUME

#: Default arms: name -> (mean growth rate per day, probability of immune response).
DEFAULT_ARMS: dict[str, tuple[float, float]] = {
    "Vehicle": (0.16, 0.0),
    "Chemo": (0.11, 0.0),
    "Targeted": (0.10, 0.0),
    "anti-PD-1": (0.12, 0.2),
    "Targeted+anti-PD-1": (0.045, 0.45),
}


def simulate_study(
    seed: int,
    n_per_arm: int = 10,
    arms: dict[str, tuple[float, float]] | None = None,
    days: np.ndarray | None = None,
    v0_mean: float = 100.0,
    sd_rate: float = 0.02,
    sd_noise: float = 0.12,
    regression_rate: float = -0.15,
    endpoint: float = 1500.0,
    p_withdrawal: float = 0.08,
) -> pd.DataFrame:
    """Simulate a syngeneic study; returns the tidy table with caliper columns.

    Parameters
    ----------
    seed
        Seed of the random generator (required: every random step is seeded).
    n_per_arm
        Mice per arm.
    arms
        ``{name: (mean rate per day, probability of immune response)}``; default
        :data:`DEFAULT_ARMS`.
    days
        Measurement days (default 0, 3, 7, 10, 14, 17, 21, 24, 28).
    v0_mean
        Mean volume at randomisation (mm³).
    sd_rate, sd_noise
        Between-mouse SD of the rate and measurement noise SD on the log scale.
    regression_rate
        Mean rate of responders after their response starts (per day, negative).
    endpoint
        Humane endpoint volume (mm³): the mouse is sacrificed at the first measurement at
        or above it.
    p_withdrawal
        Probability that a mouse is withdrawn early for another reason.

    Returns
    -------
    DataFrame
        Columns ``animal, group, day, volume, length, width, censored``;
        ``attrs['truth']`` holds each mouse's rate and responder status (records).
    """
    rng = np.random.default_rng(seed)
    arms = DEFAULT_ARMS if arms is None else arms
    days = np.array([0, 3, 7, 10, 14, 17, 21, 24, 28], float) if days is None else np.asarray(days, float)
    rows = []
    truth = []
    for arm, (rate, p_resp) in arms.items():
        for i in range(n_per_arm):
            aid = f"{arm}-{i + 1:02d}"
            v0 = v0_mean * np.exp(rng.normal(0, 0.15))
            r = rng.normal(rate, sd_rate)
            responder = bool(rng.random() < p_resp)
            onset = rng.uniform(5, 10)
            r_reg = rng.normal(regression_rate, 0.03)
            withdraw_day = rng.uniform(days[2], days[-1]) if rng.random() < p_withdrawal else np.inf
            truth.append({ANIMAL: aid, GROUP: arm, "rate": r, "responder": responder})
            reached = False
            mouse_rows = []
            for d in days:
                if d > withdraw_day:
                    break
                if responder and d > onset:
                    logv = np.log(v0) + r * onset + r_reg * (d - onset)
                else:
                    logv = np.log(v0) + r * d
                true_v = np.exp(logv)
                if responder and true_v < 8.0:
                    vol, length, width = 0.0, 0.0, 0.0
                else:
                    vol = float(true_v * np.exp(rng.normal(0, sd_noise)))
                    ratio = rng.uniform(0.6, 0.9)
                    length = round(float((2 * vol / ratio**2) ** (1 / 3)), 2)
                    width = round(ratio * length, 2)
                    vol = length * width**2 / 2
                mouse_rows.append({ANIMAL: aid, GROUP: arm, DAY: d, VOLUME: vol,
                                   "length": length, "width": width})
                if vol >= endpoint:
                    reached = True
                    break
            for row in mouse_rows:
                row[CENSORED] = not reached
            rows.extend(mouse_rows)
    df = pd.DataFrame(rows)
    df.attrs = {"source": f"simulate_study(seed={seed})", "group_order": list(arms),
                "truth": truth, "endpoint": endpoint}
    return df
