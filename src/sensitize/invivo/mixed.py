"""Linear mixed models for tumour growth (statsmodels ``MixedLM``) and robust covariances.

The fit itself is statsmodels' :class:`~statsmodels.regression.mixed_linear_model.MixedLM`
(REML by default).  On top of it this module computes

* the generalised-least-squares covariance of the fixed effects,
  ``(Σ_i X_iᵀ V_i⁻¹ X_i)⁻¹`` with ``V_i = Z_i G Z_iᵀ + σ² I`` evaluated at the estimated
  variance components, which is what ``nlme::vcov.lme`` reports (statsmodels' own
  ``cov_params`` inverts the Hessian of the full likelihood instead, which differs in
  the fifth significant digit when the optimiser stops early);
* cluster-robust (sandwich) covariances :func:`cluster_robust_vcov` with the CR0 and the
  bias-reduced CR2 adjustment of Bell & McCaffrey (2002) in the form of Pustejovsky &
  Tipton (2018) (``clubSandwich::vcovCR(type = "CR2")``), with the model's marginal
  covariance ``V_i`` as working and target covariance, as clubSandwich does for ``lme``.

References
----------
Bell RM, McCaffrey DF. Bias reduction in standard errors for linear regression with
multi-stage samples. Survey Methodology 2002;28:169-181.
Pustejovsky JE, Tipton E. Small-sample methods for cluster-robust variance estimation and
hypothesis testing in fixed effects models. J Bus Econ Stat 2018;36:672-683.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm


@dataclass
class MixedFit:
    """A fitted linear mixed model ``y = Xβ + Zb + ε``, ``b ~ N(0, G)``, ``ε ~ N(0, σ²I)``.

    Attributes
    ----------
    beta, names
        Fixed-effect estimates and their names.
    cov_beta
        GLS covariance ``(Σ X_iᵀ V_i⁻¹ X_i)⁻¹`` (as ``nlme::vcov``).
    cov_re, re_names
        Random-effect covariance ``G`` (on the data scale) and its names.
    scale
        Residual variance ``σ²``.
    llf
        Maximised (restricted) log-likelihood.
    reml, converged, method
        Estimation settings and optimiser used.
    y, X, Z, groups
        The data the model was fitted to (for robust covariances and diagnostics).
    random_effects
        BLUPs, one row per cluster.
    """

    beta: np.ndarray
    names: list[str]
    cov_beta: np.ndarray
    cov_re: np.ndarray
    re_names: list[str]
    scale: float
    llf: float
    reml: bool
    converged: bool
    method: str
    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    groups: np.ndarray
    random_effects: pd.DataFrame

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (fixed + random covariance + residual)."""
        q = self.Z.shape[1]
        return len(self.beta) + q * (q + 1) // 2 + 1

    @property
    def aic(self) -> float:
        """Akaike information criterion ``-2 llf + 2 k`` (REML llf when ``reml``)."""
        return float(-2 * self.llf + 2 * self.n_params)

    @property
    def se(self) -> np.ndarray:
        """Model-based standard errors of the fixed effects."""
        return np.sqrt(np.diag(self.cov_beta))

    def blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per cluster: (row indices, marginal covariance ``V_i``)."""
        out = []
        _, inv = np.unique(self.groups, return_inverse=True)
        for g in range(inv.max() + 1):
            idx = np.flatnonzero(inv == g)
            Zi = self.Z[idx]
            Vi = Zi @ self.cov_re @ Zi.T + self.scale * np.eye(len(idx))
            out.append((idx, Vi))
        return out

    def fitted_marginal(self) -> np.ndarray:
        """Population-level fitted values ``Xβ``."""
        return self.X @ self.beta

    def fitted_conditional(self) -> np.ndarray:
        """Subject-level fitted values ``Xβ + Z b_i``."""
        re = self.random_effects.reindex(pd.Index(self.groups)).to_numpy(dtype=float)
        return self.X @ self.beta + np.sum(self.Z * re, axis=1)


def fit_mixedlm(
    y: np.ndarray,
    X: np.ndarray,
    groups: np.ndarray,
    Z: np.ndarray,
    names: list[str],
    re_names: list[str],
    reml: bool = True,
) -> MixedFit:
    """Fit a linear mixed model with statsmodels ``MixedLM``.

    Optimisers are tried in turn (BFGS, L-BFGS, Nelder-Mead, Powell) until one converges
    to a finite likelihood; when none converges the best finite one is kept and
    ``converged`` is False.

    Raises
    ------
    ValueError
        When no optimiser reaches a finite likelihood.
    """
    model = sm.MixedLM(y, X, groups=groups, exog_re=Z)
    best = None
    best_method = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("bfgs", "lbfgs", "nm", "powell"):
            try:
                res = model.fit(reml=reml, method=[method])
            except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
                continue
            if not np.isfinite(res.llf) or not np.all(np.isfinite(res.fe_params)):
                continue
            if best is None or res.llf > best.llf + 1e-9:
                best, best_method = res, method
            if res.converged and best is res:
                break
    if best is None:
        raise ValueError("the mixed model could not be fitted (no optimiser reached a finite likelihood)")
    beta = np.asarray(best.fe_params, dtype=float)
    cov_re = np.atleast_2d(np.asarray(best.cov_re, dtype=float))
    scale = float(best.scale)
    re = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in best.random_effects.items()}).T
    re.columns = re_names
    fit = MixedFit(
        beta=beta, names=list(names), cov_beta=np.empty((len(beta), len(beta))), cov_re=cov_re,
        re_names=list(re_names), scale=scale, llf=float(best.llf), reml=reml,
        converged=bool(best.converged), method=best_method, y=np.asarray(y, float),
        X=np.asarray(X, float), Z=np.asarray(Z, float), groups=np.asarray(groups), random_effects=re,
    )
    info = np.zeros((X.shape[1], X.shape[1]))
    for idx, Vi in fit.blocks():
        Xi = fit.X[idx]
        info += Xi.T @ np.linalg.solve(Vi, Xi)
    fit.cov_beta = np.linalg.pinv(info)
    return fit


def _inv_sqrt_psd(B: np.ndarray) -> np.ndarray:
    w, U = np.linalg.eigh((B + B.T) / 2)
    tol = max(w.max(), 0) * 1e-12 if w.size else 0
    inv = np.where(w > tol, 1 / np.sqrt(np.where(w > tol, w, 1)), 0.0)
    return np.asarray((U * inv) @ U.T)


def cluster_robust_vcov(
    X: np.ndarray,
    resid: np.ndarray,
    blocks: list[tuple[np.ndarray, np.ndarray]],
    bread: np.ndarray,
    type: str = "CR2",
) -> np.ndarray:
    """Cluster-robust (sandwich) covariance of GLS fixed effects.

    Parameters
    ----------
    X
        Fixed-effect design (n × p).
    resid
        Marginal residuals ``y - Xβ``.
    blocks
        Per cluster: (row indices, working covariance ``V_i``); the weights are ``V_i⁻¹``.
    bread
        ``M = (Σ X_iᵀ V_i⁻¹ X_i)⁻¹``.
    type
        ``"CR0"`` (no adjustment) or ``"CR2"`` (Bell-McCaffrey bias-reduced:
        ``A_i = D_iᵀ B_i^{-1/2} D_i`` with ``V_i = D_iᵀ D_i`` and
        ``B_i = D_i (V_i - X_i M X_iᵀ) D_iᵀ``).

    Returns
    -------
    ndarray
        ``M (Σ X_iᵀ W_i A_i e_i e_iᵀ A_iᵀ W_i X_i) M``.
    """
    if type not in {"CR0", "CR2"}:
        raise ValueError(f"unknown robust covariance type {type!r}; use 'CR0' or 'CR2'")
    p = X.shape[1]
    meat = np.zeros((p, p))
    for idx, Vi in blocks:
        Xi = X[idx]
        ei = resid[idx]
        Wi = np.linalg.inv(Vi)
        if type == "CR2":
            Di = np.linalg.cholesky(Vi).T  # upper: Vi = Di' Di
            Bi = Di @ (Vi - Xi @ bread @ Xi.T) @ Di.T
            Ai = Di.T @ _inv_sqrt_psd(Bi) @ Di
            ei = Ai @ ei
        u = Xi.T @ Wi @ ei
        meat += np.outer(u, u)
    return np.asarray(bread @ meat @ bread)
