"""Turn the tidy screen table into dense dose grids, grouped by shape.

A *block* is one dose-response matrix: one ``block_id`` and one ``readout``.  Blocks of
the same number of drugs and grid shape are stacked into arrays so that every model is
computed for all of them at once.

Responses are converted to the **effect scale** used by all synergy models
(SynergyFinder's % inhibition): ``viability`` -> ``100 - response``; ``inhibition`` and
``induction`` are used as given (larger = stronger effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from sensitize.screen.schema import drug_indices


@dataclass
class BlockGroup:
    """Blocks sharing the same number of drugs and grid shape.

    Attributes
    ----------
    keys
        DataFrame (B rows) with ``block_id``, ``readout``, drug names, units,
        ``cell_line``, ``response_kind``.
    conc
        List of K arrays of shape (B, n_k): dose levels of each drug, ascending, the first
        being 0.
    effect
        Mean effect per cell, shape (B, n_1, ..., n_K).
    replicates
        Effect per replicate, shape (B, R, n_1, ..., n_K) with NaN where absent.
    n_rep
        Number of replicates per cell, shape (B, n_1, ..., n_K).
    imputed
        Boolean mask of imputed cells, shape (B, n_1, ..., n_K).
    """

    keys: pd.DataFrame
    conc: list[np.ndarray]
    effect: np.ndarray
    replicates: np.ndarray
    n_rep: np.ndarray
    imputed: np.ndarray

    @property
    def n_drugs(self) -> int:
        return len(self.conc)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.effect.shape[1:])

    def __len__(self) -> int:
        return self.effect.shape[0]

    def take(self, idx: np.ndarray) -> BlockGroup:
        return BlockGroup(
            keys=self.keys.iloc[idx].reset_index(drop=True),
            conc=[c[idx] for c in self.conc],
            effect=self.effect[idx],
            replicates=self.replicates[idx],
            n_rep=self.n_rep[idx],
            imputed=self.imputed[idx],
        )


@dataclass
class PreparedScreen:
    """Blocks ready for scoring, plus the blocks that were rejected (with reasons)."""

    groups: list[BlockGroup]
    rejected: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def to_effect(response: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Convert responses to the effect scale (viability -> 100 - viability)."""
    return np.where(kind == "viability", 100.0 - response, response)


def _impute_grid(arr: np.ndarray) -> np.ndarray:
    """Fill missing cells by the mean of their present neighbours along each axis.

    Repeated until every cell is filled (a deterministic, documented rule).  ``arr`` is
    (n_1, ..., n_K) for one block.
    """
    a = arr.copy()
    for _ in range(sum(a.shape)):
        miss = np.isnan(a)
        if not miss.any():
            break
        acc = np.zeros_like(a)
        cnt = np.zeros_like(a)
        for ax in range(a.ndim):
            for shift in (1, -1):
                rolled = np.roll(a, shift, axis=ax)
                valid = ~np.isnan(rolled)
                # do not wrap around
                edge: list[slice | int] = [slice(None)] * a.ndim
                edge[ax] = 0 if shift == 1 else -1
                valid[tuple(edge)] = False
                acc += np.where(valid, rolled, 0.0)
                cnt += valid
        fill = miss & (cnt > 0)
        a[fill] = acc[fill] / cnt[fill]
    return a


def prepare_blocks(df: pd.DataFrame, *, impute: str = "none") -> PreparedScreen:
    """Group a validated screen table into dense dose grids.

    Parameters
    ----------
    df
        Table validated by :func:`sensitize.screen.schema.validate_screen`.
    impute
        What to do with grid cells that have no measurement: ``"none"`` rejects the block
        (reported in ``rejected`` with the missing cells), ``"neighbours"`` fills each
        missing cell with the mean of its measured neighbours along the dose axes
        (iterated; imputed cells are flagged in the cell table).
    """
    if impute not in ("none", "neighbours"):
        raise ValueError("impute must be 'none' or 'neighbours'")
    ks = drug_indices(df)
    d = df.copy()
    d["_effect"] = to_effect(d["response"].to_numpy(dtype=float), d["response_kind"].to_numpy())
    key = ["block_id", "readout"]
    # which drug positions are used by each block
    present = pd.DataFrame({k: d[f"drug{k}"].notna() for k in ks})
    present[key] = d[key]
    used = present.groupby(key, sort=False)[ks].any()
    # one signature per block ("1101": drugs 1, 2 and 4 present), joined to its rows
    sig = used.astype(int).astype(str).agg("".join, axis=1).rename("_sig")
    d = d.join(sig, on=key)

    rejected: list[dict[str, Any]] = []
    groups: list[BlockGroup] = []
    notes: list[str] = []
    meta_cols = [c for c in ("cell_line", "response_kind") if c in d.columns]
    for sig_key, part in d.groupby("_sig", sort=False):
        pos = [k for k, flag in zip(ks, str(sig_key), strict=True) if flag == "1"]
        if len(pos) < 2:
            for (bid, ro), _ in part.groupby(key, sort=False):
                rejected.append({"block_id": bid, "readout": ro, "reason": "fewer than two drugs in the block"})
            continue
        part = part.copy()
        lv_cols = []
        for k in pos:
            c = f"conc{k}"
            part[f"_lv{k}"] = part.groupby(key, sort=False)[c].rank(method="dense").astype(int) - 1
            lv_cols.append(f"_lv{k}")
        bkeys = part.groupby(key, sort=False)
        first = bkeys.first()
        info = first[[f"drug{k}" for k in pos] + [f"conc_unit{k}" for k in pos if f"conc_unit{k}" in first.columns] + meta_cols].reset_index()
        rename = {}
        for new_i, k in enumerate(pos, start=1):
            rename[f"drug{k}"] = f"drug{new_i}"
            rename[f"conc_unit{k}"] = f"conc_unit{new_i}"
        info = info.rename(columns=rename)
        nlev = bkeys[lv_cols].max() + 1
        minc = bkeys[[f"conc{k}" for k in pos]].min()
        info["_block_index"] = np.arange(len(info))
        # zero-dose level required for every drug
        no_zero = np.any(minc.to_numpy() > 0, axis=1)
        shapes = [tuple(int(v) for v in row) for row in nlev.to_numpy()]
        info["_shape"] = shapes
        block_idx = bkeys.ngroup().to_numpy()
        part["_bidx"] = block_idx
        for shape_key, binfo in info.groupby("_shape", sort=False):
            shape = cast(tuple[int, ...], shape_key)
            bsel = binfo["_block_index"].to_numpy()
            ok = ~no_zero[bsel]
            for j in np.flatnonzero(~ok):
                r = binfo.iloc[j]
                zdrugs = [f"drug{i + 1}" for i, k in enumerate(pos) if minc.iloc[bsel[j]][f"conc{k}"] > 0]
                rejected.append({"block_id": r["block_id"], "readout": r["readout"],
                                 "reason": f"no zero-dose (monotherapy) cells for {', '.join(zdrugs)}"})
            if any(n < 2 for n in shape):
                for j in np.flatnonzero(ok):
                    r = binfo.iloc[j]
                    rejected.append({"block_id": r["block_id"], "readout": r["readout"],
                                     "reason": "a drug has a single dose level"})
                continue
            bsel = bsel[ok]
            binfo = binfo[ok]
            if len(bsel) == 0:
                continue
            remap = np.full(block_idx.max() + 1, -1)
            remap[bsel] = np.arange(len(bsel))
            rows = part[np.isin(block_idx, bsel)]
            bi = remap[rows["_bidx"].to_numpy()]
            ncell = int(np.prod(shape))
            flat = np.ravel_multi_index(tuple(rows[c].to_numpy() for c in lv_cols), shape)
            eff = rows["_effect"].to_numpy(dtype=float)
            okv = ~np.isnan(eff)
            lin = bi * ncell + flat
            # replicate values summed in a canonical (sorted) order within each cell, so the
            # mean -- and the fits, which are sensitive to its last bits -- do not depend on
            # the row order of the input
            so = np.lexsort((eff, lin))
            so = so[okv[so]]
            sums = np.bincount(lin[so], weights=eff[so], minlength=len(bsel) * ncell)
            cnts = np.bincount(lin[okv], minlength=len(bsel) * ncell)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = (sums / cnts).reshape((len(bsel), *shape))
            cnts = cnts.reshape((len(bsel), *shape))
            # replicate arrays: order replicates within cell by appearance
            # replicates ordered by their replicate number (then file order), so the
            # bootstrap does not depend on row order
            if "replicate" in rows.columns:
                rv = pd.to_numeric(rows["replicate"], errors="coerce").fillna(np.inf).to_numpy()
            else:
                rv = np.zeros(len(rows))
            order = np.lexsort((np.arange(len(lin)), rv, lin))
            rep_rank = np.empty(len(lin), dtype=int)
            rep_rank[order] = pd.Series(lin[order]).groupby(lin[order]).cumcount().to_numpy()
            rmax = int(rep_rank.max()) + 1 if len(rep_rank) else 1
            reps = np.full((len(bsel), rmax, ncell), np.nan)
            reps[bi, rep_rank, flat] = eff
            reps = reps.reshape((len(bsel), rmax, *shape))
            # concentration axes
            conc_axes = []
            for k in pos:
                lv = rows[f"_lv{k}"].to_numpy()
                n_k = shape[pos.index(k)]
                axis = np.full((len(bsel), n_k), np.nan)
                axis[bi, lv] = rows[f"conc{k}"].to_numpy(dtype=float)
                conc_axes.append(axis)
            imputed = np.isnan(mean)
            keep = np.ones(len(bsel), dtype=bool)
            if imputed.any():
                for j in np.flatnonzero(imputed.reshape(len(bsel), -1).any(axis=1)):
                    if impute == "none":
                        miss = np.argwhere(imputed[j])
                        cells = "; ".join(
                            "(" + ", ".join(f"{conc_axes[a][j, m[a]]:g}" for a in range(len(pos))) + ")"
                            for m in miss[:5]
                        )
                        more = f" (+{len(miss) - 5} more)" if len(miss) > 5 else ""
                        rejected.append({
                            "block_id": binfo.iloc[j]["block_id"], "readout": binfo.iloc[j]["readout"],
                            "reason": f"incomplete dose grid: {len(miss)} missing cell(s) {cells}{more}; "
                                      "pass impute='neighbours' to fill them",
                        })
                        keep[j] = False
                    else:
                        mean[j] = _impute_grid(mean[j])
                        if np.isnan(mean[j]).any():
                            rejected.append({"block_id": binfo.iloc[j]["block_id"], "readout": binfo.iloc[j]["readout"],
                                             "reason": "dose grid could not be imputed"})
                            keep[j] = False
                if impute == "neighbours" and keep.any():
                    notes.append(f"{int(imputed[keep].sum())} missing grid cell(s) imputed from neighbours")
            sel = np.flatnonzero(keep)
            if sel.size == 0:
                continue
            keys_df = binfo.iloc[sel].drop(columns=["_block_index", "_shape"]).reset_index(drop=True)
            groups.append(
                BlockGroup(
                    keys=keys_df,
                    conc=[c[sel] for c in conc_axes],
                    effect=mean[sel],
                    replicates=reps[sel],
                    n_rep=cnts[sel],
                    imputed=imputed[sel],
                )
            )
    rej = pd.DataFrame(rejected, columns=["block_id", "readout", "reason"])
    return PreparedScreen(groups=groups, rejected=rej, notes=notes)
