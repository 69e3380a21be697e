"""Readers for cohort data: expression matrices and clinical tables.

Formats: CSV/TSV (optionally gzipped; the delimiter is sniffed), Parquet, Excel and
AnnData ``.h5ad`` (observations = samples, variables = genes; transposed on reading).
:func:`read_cohort` joins an expression file and a clinical file into a
:class:`sensitize.cohort.data.Cohort`; :func:`read_shared_cohort` reads a folder of the
shared clinical collection (``expression*.tsv.gz`` + ``clinical*.tsv``).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.cohort.data import Cohort, build_cohort
from sensitize.core.errors import InputError

_GENE_COL_NAMES = ("gene", "genes", "symbol", "gene_symbol", "genesymbol", "hgnc_symbol",
                   "gene_name", "genename", "hugo_symbol", "name", "id", "gene_id")


def _open_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", errors="replace") as fh:
            return fh.read(65536)
    with open(path, errors="replace") as fh:
        return fh.read(65536)


def _sniff_sep(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".tsv") or name.endswith(".txt") or name.endswith(".tab"):
        head = _open_text(path)
        return "\t" if "\t" in head.splitlines()[0] else ","
    if name.endswith(".csv"):
        return ","
    head = _open_text(path)
    try:
        return csv.Sniffer().sniff(head.splitlines()[0], delimiters=",\t;").delimiter
    except csv.Error:
        return "\t" if "\t" in head else ","


def read_table(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a table (CSV/TSV[.gz], Parquet, Excel) with string column names."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(str(p))
    name = p.name.lower()
    try:
        if name.endswith(".parquet") or name.endswith(".pq"):
            df = pd.read_parquet(p)
        elif name.endswith(".xlsx") or name.endswith(".xls"):
            df = pd.read_excel(p, **kwargs)
        else:
            df = pd.read_csv(p, sep=_sniff_sep(p), low_memory=False, **kwargs)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read the table: {exc}", file=str(p)) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_expression(path: str | Path, *, gene_col: str | None = None, layer: str | None = None,
                    var_symbol_col: str | None = None) -> pd.DataFrame:
    """Read an expression matrix as genes x samples (float), gene IDs as the index.

    CSV/TSV/Parquet: the gene column is ``gene_col`` or the first non-numeric column
    (a symbol-like column — ``symbol``, ``gene_name``, ... — is preferred when several are
    present); the other non-numeric columns are ignored (listed in ``attrs``).  AnnData:
    ``X`` (or ``layer``) is samples x genes and is transposed; genes are ``var_names``
    or the ``var[var_symbol_col]`` column.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(str(p))
    if p.suffix == ".h5ad":
        import anndata

        ad = anndata.read_h5ad(p)
        mat = ad.layers[layer] if layer else ad.X
        if hasattr(mat, "toarray"):
            mat = mat.toarray()
        genes = ad.var[var_symbol_col].astype(str) if var_symbol_col else ad.var_names.astype(str)
        df = pd.DataFrame(np.asarray(mat, dtype=float).T, index=pd.Index(genes),
                          columns=ad.obs_names.astype(str))
        df.attrs["source"] = f"AnnData {p.name} ({'layer ' + layer if layer else 'X'}), transposed"
        return df
    raw = read_table(p)
    if raw.shape[1] < 2:
        raise InputError("an expression matrix needs a gene column and at least one sample",
                         file=str(p))
    nonnum = [c for c in raw.columns
              if pd.to_numeric(raw[c], errors="coerce").notna().sum() < 0.5 * raw[c].notna().sum()]
    if gene_col is not None:
        if gene_col not in raw.columns:
            raise InputError(f"gene column {gene_col!r} not found", file=str(p), column=gene_col)
        gcol = gene_col
    elif nonnum:
        pref = [c for c in nonnum if c.lower().replace(".", "_") in _GENE_COL_NAMES[:10]]
        gcol = pref[0] if pref else nonnum[0]
    else:
        gcol = raw.columns[0]
    ignored = [c for c in nonnum if c != gcol]
    df = raw.drop(columns=ignored).set_index(gcol)
    df.index = pd.Index([str(g) for g in df.index], name="gene")
    bad = df.apply(lambda s: pd.to_numeric(s, errors="coerce")).isna() & df.notna()
    if bad.to_numpy().any():
        col = bad.any(axis=0)
        c0 = str(col[col].index[0])
        raise InputError("non-numeric expression values", file=str(p), column=c0,
                         rows=[int(i) + 1 for i in np.flatnonzero(bad[c0].to_numpy())])
    df = df.apply(pd.to_numeric, errors="coerce").astype(float)
    df.attrs["ignored_columns"] = ignored
    df.attrs["gene_col"] = gcol
    return df


def read_clinical(path: str | Path) -> pd.DataFrame:
    """Read a clinical table (one row per sample); AnnData ``.h5ad`` gives its ``obs``."""
    p = Path(path)
    if p.suffix == ".h5ad":
        import anndata

        ad = anndata.read_h5ad(p, backed="r")
        obs = ad.obs.copy()
        obs.insert(0, "sample" if "sample" not in obs.columns else "obs_name", obs.index.astype(str))
        return obs.reset_index(drop=True)
    return read_table(p)


def read_cohort(
    expression: str | Path,
    clinical: str | Path | None = None,
    *,
    gene_col: str | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> Cohort:
    """Read and join an expression file and a clinical file (see :func:`build_cohort`).

    ``clinical`` may be omitted for an ``.h5ad`` file, whose ``obs`` is the clinical table.
    Keyword arguments go to :func:`sensitize.cohort.data.build_cohort`.
    """
    e = Path(expression)
    expr = read_expression(e, gene_col=gene_col)
    if clinical is None:
        if e.suffix != ".h5ad":
            raise InputError("a clinical table is required (only .h5ad files carry one)", file=str(e))
        clin = read_clinical(e)
        cfile = f"{e} (obs)"
    else:
        clin = read_clinical(clinical)
        cfile = str(clinical)
    cohort = build_cohort(expr, clin, name=name or e.parent.name or e.stem,
                          expression_file=str(e), clinical_file=cfile, **kwargs)
    cohort.report["expression_reader"] = {
        k: v for k, v in expr.attrs.items() if k in ("ignored_columns", "gene_col", "source")}
    return cohort


def find_shared_cohort_files(folder: str | Path, subset: str | None = None) -> tuple[Path, Path]:
    """Expression and clinical files of a shared-collection folder.

    Folders hold ``expression*.tsv.gz`` (or ``*.csv.gz``) and ``clinical*.tsv`` (or a
    ``*pdata*``/``*clinical*`` CSV); when several expression files exist, ``subset``
    picks the one whose name contains it (and the clinical file with the same suffix).
    """
    f = Path(folder)
    if not f.is_dir():
        raise FileNotFoundError(str(f))
    expr = sorted(p for p in f.iterdir() if p.name.lower().startswith(("expression", "iobr_"))
                  and ("eset" in p.name.lower() or p.name.lower().startswith("expression")))
    clin = sorted(p for p in f.iterdir() if "clinical" in p.name.lower() or "pdata" in p.name.lower())
    if subset:
        expr = [p for p in expr if subset.lower() in p.name.lower()]
        clin = [p for p in clin if subset.lower() in p.name.lower()] or clin
    if len(expr) != 1:
        raise InputError(
            f"expected one expression file in {f}, found {len(expr)} "
            f"({', '.join(p.name for p in expr)}); pass subset=... to choose",
            file=str(f),
        )
    if len(clin) != 1:
        raise InputError(
            f"expected one clinical file in {f}, found {len(clin)} "
            f"({', '.join(p.name for p in clin)}); pass subset=... to choose",
            file=str(f),
        )
    return expr[0], clin[0]


def read_shared_cohort(folder: str | Path, subset: str | None = None, **kwargs: Any) -> Cohort:
    """Read a cohort folder of the shared clinical collection (e.g. ``Gide2019_melanoma_antiPD1``).

    PredictioR matrices are log2(TPM + 0.001); with the default ``scale="auto"`` they are
    converted to log2(TPM + 1) (the scale of the R reference outputs).
    """
    e, c = find_shared_cohort_files(folder, subset)
    kwargs.setdefault("name", Path(folder).name + (f"/{subset}" if subset else ""))
    if "log2TPM" in e.name:
        kwargs.setdefault("unit", "TPM")
    return read_cohort(e, c, **kwargs)


def cohort_to_anndata(cohort: Cohort) -> Any:
    """Export a cohort as AnnData (samples x genes, clinical columns in ``obs``)."""
    import anndata

    obs = cohort.clinical.drop(columns=["_row"], errors="ignore").copy()
    for col in obs.columns:
        if obs[col].dtype == object:
            obs[col] = obs[col].astype(str)
    ad = anndata.AnnData(X=cohort.expression.T.to_numpy(dtype=float), obs=obs,
                         var=pd.DataFrame(index=cohort.expression.index.astype(str)))
    ad.uns["unit"] = cohort.unit
    return ad


def expression_bytes_gz(df: pd.DataFrame) -> bytes:
    """Gzipped TSV bytes of a genes x samples matrix (for tests and examples)."""
    buf = io.StringIO()
    df.to_csv(buf, sep="\t")
    return gzip.compress(buf.getvalue().encode())
