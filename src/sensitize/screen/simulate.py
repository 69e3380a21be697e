"""Seeded generator of immune-activation combination screens with known ground truth.

:func:`simulate_immune_screen` builds a realistic 384-well plate set: two mouse cell lines
(LLC1, 4T1), one chemotherapy anchor (oxaliplatin) at fixed concentrations crossed with the
dose series of each library drug (anchored design), plus full-matrix plates for a few
pairs.  Each well is read twice: viability (CellTiter-Glo-like luminescence, RLU) and
secreted CXCL10 (ELISA-like, pg/mL).  Plate-to-plate scale differences, an edge effect,
dead wells (no cells) and one failed plate (collapsed controls) are planted.  Everything
is synthetic; drug names ``TD01..`` are placeholders.

Generative model (per cell line, drug concentration ``d`` of the library drug, ``a`` of
the anchor; ``h(x; ec, n) = x^n / (x^n + ec^n)``):

* viable fraction ``v = (1 - E_lib h(d; IC50_lib, n_lib)) (1 - E_anc h(a; IC50_anc, n_anc))
  (1 - s_v h(d; IC50_lib, 1.5) h(a; IC50_anc, 1.5))``: Bliss independence times a
  cytotoxic-synergy term ``s_v`` (non-zero for ``cytotoxic_synergy`` drugs);
* CXCL10 per viable cell, log2 fold over vehicle: ``L = L_lib h(d; EC_lib, 1) +
  L_anc h(a; EC_anc, 1) + gamma h(d; EC_int, 1.5) h(a; EC_anc, 1.5)``; ``gamma > 0`` for
  ``synergistic_inducer``, ``gamma = -L_anc`` (blocks the anchor's induction) for
  ``induction_antagonist``, 0 otherwise; the null model is log-additivity of the two
  drugs' fold changes;
* signals: ``viability = V0 * v * c + bg``; ``CXCL10 = C0 * v * 2^L * c + noise``, where
  ``c = plate_scale * exp(-edge * (#outer row + #outer column)) * (0 if dead else 1)``
  times log-normal noise.  CXCL10 below 0 pg/mL is reported as 0 (below the assay's
  range).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.core.output import atomic_write_csv, atomic_write_text

_ROWS = "ABCDEFGHIJKLMNOP"
KLASSES = ("synergistic_inducer", "cytotoxic_synergy", "induction_antagonist", "additive_inducer", "no_interaction")

#: per-cell-line constants: vehicle RLU, vehicle CXCL10 (pg/mL), anchor IC50 (uM),
#: anchor CXCL10 induction (log2 at saturation), IFN-gamma induction (log2)
_CELL_LINES: dict[str, dict[str, float]] = {
    "LLC1": {"V0": 42000.0, "C0": 45.0, "ic50_anchor": 3.0, "L_anchor": 1.0, "L_ifn": 4.0},
    "4T1": {"V0": 61000.0, "C0": 80.0, "ic50_anchor": 5.0, "L_anchor": 0.7, "L_ifn": 3.5},
}


@dataclass
class SimulatedScreen:
    """A simulated plate set and its ground truth.

    Attributes
    ----------
    plate_map
        Long plate map (``plate, well, cell_line, role, control_readout, drug1, conc1,
        conc_unit1, drug2, conc2, conc_unit2, design``), readable by
        :func:`sensitize.io.plates.read_plate_map`.
    reads
        Long reader export ``plate, well, readout, raw``.
    truth
        One row per cell line x library drug: the class, the true interaction terms and
        monotherapy parameters.
    truth_wells
        One row per plate x well: ``dead``, the edge factor (log), the true viable
        fraction and the true log2 CXCL10 per viable cell.
    truth_plates
        One row per plate: cell line, design, replicate, ``failed``, plate scales.
    params
        The generator's arguments.
    """

    plate_map: pd.DataFrame
    reads: pd.DataFrame
    truth: pd.DataFrame
    truth_wells: pd.DataFrame
    truth_plates: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _hill(x: np.ndarray | float, ec: float, n: float) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        xn = np.power(x, n)
        return np.where(x > 0, xn / (xn + ec**n), 0.0)


def _control_positions(nr: int, nc: int) -> list[tuple[int, int]]:
    """48 (384) or 24 (96) scattered control positions: 2 per column, spread over the rows."""
    pos = []
    for j in range(nc):
        pos.append(((3 * j) % nr, j))
        pos.append(((3 * j + nr // 2) % nr, j))
    return pos


def _library_params(rng: np.random.Generator, n_library: int, cell_lines: tuple[str, ...]) -> pd.DataFrame:
    n = n_library
    counts = {
        "synergistic_inducer": max(1, round(0.25 * n)),
        "cytotoxic_synergy": max(1, round(0.2 * n)),
        "induction_antagonist": max(1, round(0.1 * n)),
        "additive_inducer": max(1, round(0.15 * n)),
    }
    klass: list[str] = []
    for k, c in counts.items():
        klass += [k] * c
    klass = (klass + ["no_interaction"] * n)[:n]
    klass = list(rng.permutation(np.array(klass, dtype=object)))
    recs = []
    for i in range(n):
        drug = f"TD{i + 1:02d}"
        k = klass[i]
        ic50 = float(np.exp(rng.uniform(np.log(0.2), np.log(30.0))))
        hill = float(rng.uniform(0.9, 2.0))
        emax = float(rng.uniform(0.2, 0.5)) if k == "synergistic_inducer" else float(rng.uniform(0.3, 0.95))
        l_lib = float(rng.uniform(1.0, 2.0)) if k == "additive_inducer" else float(rng.uniform(0.0, 0.3))
        ec_lib = ic50 * float(rng.uniform(0.3, 1.5))
        ec_int = ic50 * float(rng.uniform(0.2, 0.8))
        gamma = float(rng.uniform(1.5, 2.5)) if k == "synergistic_inducer" else 0.0
        s_v = float(rng.uniform(0.4, 0.7)) if k == "cytotoxic_synergy" else 0.0
        # cell-line specificity: some interactions only in one line
        specific = None
        if k in ("synergistic_inducer", "cytotoxic_synergy") and len(cell_lines) > 1 and rng.uniform() < 0.35:
            specific = cell_lines[int(rng.integers(len(cell_lines)))]
        for cl in cell_lines:
            on = specific is None or cl == specific
            shift = float(np.exp(rng.normal(0, 0.3)))  # cell-line potency difference
            recs.append({
                "cell_line": cl, "drug": drug, "design_class": k,
                "klass": k if on else "no_interaction",
                "ic50_uM": ic50 * shift, "hill": hill, "emax": emax,
                "induction_log2_max": l_lib, "induction_ec50_uM": ec_lib * shift,
                "interaction_ec50_uM": ec_int * shift,
                "gamma_log2": gamma if on else 0.0,
                "viability_synergy": s_v if on else 0.0,
            })
    return pd.DataFrame(recs)


def _truth_response(
    lib: pd.Series | None, d: np.ndarray, a: np.ndarray, cl: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """True viable fraction and log2 CXCL10 per viable cell for library dose d, anchor dose a."""
    ic50_a, n_a, e_a = cl["ic50_anchor"], 1.2, 0.9
    ec_a = 0.8 * cl["ic50_anchor"] / 3.0
    v_a = 1 - e_a * _hill(a, ic50_a, n_a)
    l_a = cl["L_anchor"] * _hill(a, ec_a, 1.0)
    if lib is None:
        return v_a, l_a
    v_l = 1 - lib["emax"] * _hill(d, lib["ic50_uM"], lib["hill"])
    l_l = lib["induction_log2_max"] * _hill(d, lib["induction_ec50_uM"], 1.0)
    v = v_l * v_a * (1 - lib["viability_synergy"] * _hill(d, lib["ic50_uM"], 1.5) * _hill(a, ic50_a, 1.5))
    inter = lib["gamma_log2"] * _hill(d, lib["interaction_ec50_uM"], 1.5) * _hill(a, ec_a, 1.5)
    if lib["klass"] == "induction_antagonist":
        inter = -l_a * _hill(d, lib["induction_ec50_uM"], 1.0)
    return v, l_l + l_a + inter


def simulate_immune_screen(
    seed: int,
    *,
    n_library: int = 20,
    cell_lines: tuple[str, ...] = ("LLC1", "4T1"),
    anchor: str = "oxaliplatin",
    anchor_concs: tuple[float, ...] = (0.5, 2.0),
    library_doses: tuple[float, ...] = (0.04, 0.16, 0.63, 2.5, 10.0),
    n_replicates: int = 2,
    n_matrix_pairs: int = 4,
    matrix_anchor_concs: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0),
    noise: float = 0.07,
    chemokine_noise: float = 0.12,
    edge_effect: float = 0.15,
    plate_effect_sd: float = 0.15,
    dead_well_rate: float = 0.01,
    failed_plate: bool = True,
) -> SimulatedScreen:
    """Simulate an anchored immune-activation screen on 384-well plates.

    Parameters
    ----------
    seed
        Seed of the NumPy generator (every random step draws from it).
    n_library
        Number of library (targeted) drugs ``TD01..``.
    cell_lines
        Cell lines (``LLC1`` and ``4T1`` have built-in constants; others reuse LLC1's).
    anchor, anchor_concs
        The chemotherapy anchor and its fixed concentrations (uM) on the anchored plates.
    library_doses
        The library drugs' dose series (uM).
    n_replicates
        Replicate anchored plates per cell line.
    n_matrix_pairs
        Library drugs also run as a full matrix with the anchor (one matrix plate per cell
        line, two in-plate replicates); 0 for none.
    matrix_anchor_concs
        Anchor concentrations of the matrix plates (uM).
    noise, chemokine_noise
        Log-normal CV of the viability and CXCL10 signals.
    edge_effect
        Log-signal loss per outer row/column (corners lose twice); 0 for none.
    plate_effect_sd
        SD of the log plate scale (per plate and readout).
    dead_well_rate
        Fraction of wells without cells.
    failed_plate
        Make the last anchored replicate of the last cell line fail (controls collapsed:
        killing control and IFN-gamma not dispensed, noise x 2.5).

    Returns
    -------
    SimulatedScreen
        Plate map, reader export, ground truth.
    """
    rng = np.random.default_rng(seed)
    nr, nc = 16, 24
    n_dose, n_anc = len(library_doses), len(anchor_concs)
    libp = _library_params(rng, n_library, tuple(cell_lines))
    ctrl_pos = _control_positions(nr, nc)
    all_pos = [(r, c) for r in range(nr) for c in range(nc)]
    free_pos = [p for p in all_pos if p not in set(ctrl_pos)]
    ctrl_kinds = ["vehicle"] * 16 + ["untreated"] * 8 + ["kill"] * 12 + ["ifn"] * 12
    n_extra_veh, n_anchor_rep = 8, 6
    per_drug = n_dose * (1 + n_anc)
    capacity = (len(free_pos) - n_extra_veh - n_anchor_rep * n_anc) // per_drug
    if capacity < 1:
        raise ValueError("too many anchor concentrations or doses for a 384-well plate")
    chunks = [list(range(i, min(i + capacity, n_library))) for i in range(0, n_library, capacity)]
    drugs = [f"TD{i + 1:02d}" for i in range(n_library)]

    # matrix pairs: favour informative classes (deterministic given the truth)
    first = libp.drop_duplicates("drug").set_index("drug")["design_class"]
    pref = ["synergistic_inducer", "synergistic_inducer", "cytotoxic_synergy", "no_interaction", "induction_antagonist", "additive_inducer"]
    mat_drugs: list[str] = []
    for k in pref:
        for d in drugs:
            if first[d] == k and d not in mat_drugs:
                mat_drugs.append(d)
                break
        if len(mat_drugs) >= n_matrix_pairs:
            break
    for d in drugs:
        if len(mat_drugs) >= n_matrix_pairs:
            break
        if d not in mat_drugs:
            mat_drugs.append(d)

    plates: list[dict[str, Any]] = []
    for cl in cell_lines:
        for ci, _ in enumerate(chunks):
            for rep in range(1, n_replicates + 1):
                plates.append({"plate": f"{cl}-A{ci + 1}-R{rep}", "cell_line": cl, "design": "anchored",
                               "chunk": ci, "replicate": rep})
        if n_matrix_pairs > 0:
            plates.append({"plate": f"{cl}-M1", "cell_line": cl, "design": "matrix", "chunk": -1, "replicate": 1})
    failed_id = None
    if failed_plate:
        cand = [p for p in plates if p["design"] == "anchored" and p["cell_line"] == cell_lines[-1]]
        failed_id = cand[-1]["plate"]

    map_recs: list[dict[str, Any]] = []
    well_recs: list[dict[str, Any]] = []
    read_recs: list[dict[str, Any]] = []
    plate_recs = []
    for pinfo in plates:
        plate, cl = pinfo["plate"], pinfo["cell_line"]
        clc = _CELL_LINES.get(cl, _CELL_LINES["LLC1"])
        lib_cl = libp.loc[libp["cell_line"] == cl].set_index("drug")
        # contents: list of dicts (role, drug1, conc1, drug2, conc2, control_readout, kind)
        samples: list[dict[str, Any]] = []
        if pinfo["design"] == "anchored":
            for i in chunks[pinfo["chunk"]]:
                for dose in library_doses:
                    samples.append({"drug1": drugs[i], "conc1": dose, "drug2": None, "conc2": 0.0})
                    for a in anchor_concs:
                        samples.append({"drug1": drugs[i], "conc1": dose, "drug2": anchor, "conc2": a})
            for a in anchor_concs:
                for _ in range(n_anchor_rep):
                    samples.append({"drug1": None, "conc1": 0.0, "drug2": anchor, "conc2": a})
        else:
            for _rep in range(2):
                for dn in mat_drugs:
                    for dose in library_doses:
                        samples.append({"drug1": dn, "conc1": dose, "drug2": None, "conc2": 0.0})
                        for a in matrix_anchor_concs:
                            samples.append({"drug1": dn, "conc1": dose, "drug2": anchor, "conc2": a})
                    for a in matrix_anchor_concs:
                        samples.append({"drug1": None, "conc1": 0.0, "drug2": anchor, "conc2": a})
        if len(samples) + n_extra_veh > len(free_pos):
            raise ValueError(f"plate {plate}: {len(samples)} sample wells do not fit; lower n_matrix_pairs")
        order = rng.permutation(len(free_pos))
        kinds_ctrl = list(rng.permutation(np.array(ctrl_kinds, dtype=object)))
        content: dict[tuple[int, int], dict[str, Any]] = {}
        for p, k in zip(ctrl_pos, kinds_ctrl):
            content[p] = {"kind": k}
        for j, o in enumerate(order):
            p = free_pos[o]
            if j < len(samples):
                content[p] = {"kind": "sample", **samples[j]}
            elif j < len(samples) + n_extra_veh:
                content[p] = {"kind": "vehicle"}
            else:
                content[p] = {"kind": "empty"}
        failed = plate == failed_id
        scale_v = float(np.exp(rng.normal(0, plate_effect_sd)))
        scale_c = float(np.exp(rng.normal(0, plate_effect_sd)))
        nz = 2.5 if failed else 1.0
        plate_recs.append({**{k: pinfo[k] for k in ("plate", "cell_line", "design", "replicate")},
                           "failed": failed, "scale_viability": scale_v, "scale_CXCL10": scale_c})
        for (r, c) in all_pos:
            w = content[(r, c)]
            well = f"{_ROWS[r]}{c + 1:02d}"
            kind = w["kind"]
            rec = {"plate": plate, "well": well, "cell_line": cl, "role": "", "control_readout": None,
                   "drug1": None, "conc1": None, "conc_unit1": None,
                   "drug2": None, "conc2": None, "conc_unit2": None, "design": pinfo["design"]}
            v_true, l_true = 1.0, 0.0
            if kind == "sample":
                rec["role"] = "sample"
                if w["drug1"] is not None:
                    rec.update(drug1=w["drug1"], conc1=w["conc1"], conc_unit1="uM")
                if w["drug2"] is not None:
                    rec.update(drug2=w["drug2"], conc2=w["conc2"], conc_unit2="uM")
                lib = lib_cl.loc[w["drug1"]] if w["drug1"] is not None else None
                vv, ll = _truth_response(lib, np.array([w["conc1"]]), np.array([w["conc2"]]), clc)
                v_true, l_true = float(vv[0]), float(ll[0])
            elif kind == "vehicle":
                rec["role"] = "vehicle"
                rec.update(drug1="DMSO")
            elif kind == "untreated":
                rec["role"] = "untreated"
            elif kind == "kill":
                rec.update(role="positive_control", control_readout="viability", drug1="staurosporine",
                           conc1=1.0, conc_unit1="uM")
                if not failed:
                    v_true = 0.03
            elif kind == "ifn":
                rec.update(role="positive_control", control_readout="CXCL10", drug1="IFN-gamma",
                           conc1=10.0, conc_unit1="ng/mL")
                if not failed:
                    v_true, l_true = 0.95, clc["L_ifn"]
            else:
                rec["role"] = "empty"
            map_recs.append(rec)
            edge = -edge_effect * ((r in (0, nr - 1)) + (c in (0, nc - 1)))
            dead = kind != "empty" and rng.uniform() < dead_well_rate
            well_recs.append({"plate": plate, "well": well, "role": rec["role"], "dead": dead,
                              "edge_log_factor": edge, "true_viability": v_true,
                              "true_log2_per_viable": l_true})
            if kind == "empty":
                cells = 0.0
            else:
                cells = 0.0 if dead else float(np.exp(edge))
            via = clc["V0"] * scale_v * v_true * cells * np.exp(rng.normal(0, noise * nz)) + rng.normal(200, 30)
            chem = (clc["C0"] * scale_c * v_true * 2.0**l_true * cells * np.exp(rng.normal(0, chemokine_noise * nz))
                    + rng.normal(0, 2.0))
            read_recs.append({"plate": plate, "well": well, "readout": "viability", "raw": float(round(via))})
            read_recs.append({"plate": plate, "well": well, "readout": "CXCL10", "raw": float(round(max(chem, 0.0), 1))})

    plate_map = pd.DataFrame(map_recs)
    reads = pd.DataFrame(read_recs)
    truth_wells = pd.DataFrame(well_recs)

    # per cell line x drug truth at the top doses
    trs = []
    top_d, top_a = max(library_doses), max(anchor_concs)
    for _, lib in libp.iterrows():
        clc = _CELL_LINES.get(lib["cell_line"], _CELL_LINES["LLC1"])
        v, lg = _truth_response(lib, np.array([top_d]), np.array([top_a]), clc)
        v_l, l_l = _truth_response(lib, np.array([top_d]), np.array([0.0]), clc)
        v_a, l_a = _truth_response(None, np.array([0.0]), np.array([top_a]), clc)
        bliss = float(v_l[0] * v_a[0])
        inter = float(lg[0] - l_l[0] - l_a[0])
        trs.append({
            "cell_line": lib["cell_line"], "drug": lib["drug"], "anchor": anchor, "klass": lib["klass"],
            "synergistic_induction": lib["klass"] == "synergistic_inducer",
            "cytotoxic_synergy": lib["klass"] == "cytotoxic_synergy",
            "induction_antagonism": lib["klass"] == "induction_antagonist",
            "in_matrix": lib["drug"] in mat_drugs,
            "interaction_log2_top": inter,
            "viability_top_pct": 100 * float(v[0]),
            "viability_bliss_top_pct": 100 * bliss,
            "viability_excess_top_pct": 100 * (bliss - float(v[0])),
            "gamma_log2": lib["gamma_log2"], "viability_synergy": lib["viability_synergy"],
            "ic50_uM": lib["ic50_uM"], "hill": lib["hill"], "emax": lib["emax"],
            "induction_log2_max": lib["induction_log2_max"],
            "induction_ec50_uM": lib["induction_ec50_uM"],
            "interaction_ec50_uM": lib["interaction_ec50_uM"],
        })
    truth = pd.DataFrame(trs)
    params = {
        "seed": seed, "n_library": n_library, "cell_lines": list(cell_lines), "anchor": anchor,
        "anchor_concs": list(anchor_concs), "library_doses": list(library_doses),
        "n_replicates": n_replicates, "n_matrix_pairs": n_matrix_pairs,
        "matrix_anchor_concs": list(matrix_anchor_concs), "noise": noise,
        "chemokine_noise": chemokine_noise, "edge_effect": edge_effect,
        "plate_effect_sd": plate_effect_sd, "dead_well_rate": dead_well_rate,
        "failed_plate": failed_id, "matrix_drugs": mat_drugs, "units": "uM",
    }
    return SimulatedScreen(plate_map=plate_map, reads=reads, truth=truth, truth_wells=truth_wells,
                           truth_plates=pd.DataFrame(plate_recs), params=params)


DEMO_SEED = 12

_README = """# Demo immune-activation screen (synthetic)

**All data here are synthetic.** They were generated by
`sensitize.screen.simulate.write_demo` (`simulate_immune_screen(seed={seed})`, sensitize
{version}); drug names `TD01`.. are placeholders and the "truth" is the generator's, not
pharmacology.  Regenerate with:

    python -c "from sensitize.screen.simulate import write_demo; write_demo('outdir')"

## Design

* 384-well plates, two mouse cell lines ({cell_lines}), anchor **{anchor}** at
  {anchor_concs} uM crossed with each of {n_library} library drugs at {doses} uM
  (anchored design, {n_rep} replicate plates per cell line), plus one full-matrix plate
  per cell line for {matrix} (anchor at {matrix_concs} uM, two in-plate replicates).
* Controls on every plate, spread over all columns: vehicle (DMSO), untreated, a killing
  control (staurosporine 1 uM, `control_readout=viability`) and IFN-gamma 10 ng/mL
  (`control_readout=CXCL10`).
* Readouts: `viability` (CellTiter-Glo-like RLU) and `CXCL10` (ELISA-like pg/mL; values
  below the assay range are reported as 0).
* Planted artefacts: plate-to-plate scale (log SD {plate_sd}), an edge effect (signal x
  exp(-{edge}) per outer row/column, corners twice), dead wells (rate {dead}; listed in
  `truth_dead_wells.csv`) and one **failed plate**, `{failed}` (killing control and
  IFN-gamma not dispensed, noise x 2.5): QC must flag it.

## Files

| file | content |
|---|---|
| `plate_map.csv` | long plate map: `plate, well, cell_line, role, control_readout, drug1, conc1, conc_unit1, drug2, conc2, conc_unit2, design` |
| `reader_export.csv` | plate-shaped reader export: one 16 x 24 block per plate and readout, labelled `plate=...,readout=...` |
| `truth.csv` | per cell line x library drug: `klass` (synergistic_inducer, cytotoxic_synergy, induction_antagonist, additive_inducer, no_interaction), `interaction_log2_top` (true log2 CXCL10-per-viable-cell excess over log-additivity at the top doses), `viability_excess_top_pct` (Bliss-expected minus true viability at the top doses, % points) and the monotherapy parameters |
| `truth_plates.csv` | per plate: cell line, design, replicate, `failed`, plate scales |
| `truth_dead_wells.csv` | the dead wells (no cells) |
| `params.json` | the generator's arguments |

The whole path: `read_plates` -> `plate_qc` / `normalise_plates` -> `to_screen_table`
(see `docs/plates.md`).
"""


def write_demo(outdir: str | os.PathLike[str], *, seed: int = DEMO_SEED, **kwargs: Any) -> dict[str, Path]:
    """Simulate the demo screen and write it as CSV files (the bundled demo data).

    Writes ``plate_map.csv`` (long), ``reader_export.csv`` (plate-shaped),
    ``truth.csv``, ``truth_plates.csv``, ``truth_dead_wells.csv``, ``params.json`` and
    ``README.md`` into ``outdir``; returns their paths.
    """
    from sensitize import __version__
    from sensitize.io.plates import write_grid_export

    sim = simulate_immune_screen(seed, **kwargs)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    pm = sim.plate_map.copy()
    paths["plate_map"] = atomic_write_csv(out / "plate_map.csv", pm)
    reads = sim.reads.copy()
    reads["plate_format"] = 384
    reads["raw"] = [f"{v:.0f}" if r == "viability" else f"{v:.1f}" for v, r in zip(reads["raw"], reads["readout"])]
    paths["reader_export"] = write_grid_export(out / "reader_export.csv", reads, value="raw")
    truth = sim.truth.copy()
    num = truth.select_dtypes("number").columns
    truth[num] = truth[num].round(5)
    paths["truth"] = atomic_write_csv(out / "truth.csv", truth)
    tp = sim.truth_plates.copy()
    tp[["scale_viability", "scale_CXCL10"]] = tp[["scale_viability", "scale_CXCL10"]].round(5)
    paths["truth_plates"] = atomic_write_csv(out / "truth_plates.csv", tp)
    dead = sim.truth_wells.loc[sim.truth_wells["dead"], ["plate", "well", "role"]]
    paths["truth_dead_wells"] = atomic_write_csv(out / "truth_dead_wells.csv", dead)
    paths["params"] = atomic_write_text(out / "params.json", json.dumps(sim.params, indent=2) + "\n")
    p = sim.params
    paths["readme"] = atomic_write_text(out / "README.md", _README.format(
        seed=p["seed"], version=__version__, cell_lines=", ".join(p["cell_lines"]), anchor=p["anchor"],
        anchor_concs=p["anchor_concs"], n_library=p["n_library"], doses=p["library_doses"],
        n_rep=p["n_replicates"], matrix=", ".join(p["matrix_drugs"]) or "no pair",
        matrix_concs=p["matrix_anchor_concs"], plate_sd=p["plate_effect_sd"], edge=p["edge_effect"],
        dead=p["dead_well_rate"], failed=p["failed_plate"],
    ))
    return paths
