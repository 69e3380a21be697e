"""Small seeded analyses shared by the report tests (built once per session)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sensitize.core.data import bundled


@pytest.fixture(scope="session")
def oneil_path() -> Path:
    return bundled("examples", "ONEIL_screening_data.csv")


@pytest.fixture(scope="session")
def screen_result(oneil_path: Path) -> Any:
    from sensitize.io.screen import read_screen
    from sensitize.screen.engine import score_screen

    df = read_screen(oneil_path, response_kind="inhibition")
    return score_screen(df, n_boot=0, seed=5, source=oneil_path.name)


@pytest.fixture(scope="session")
def plates_pipeline() -> dict[str, Any]:
    from sensitize.io.plates import read_plates
    from sensitize.screen.anchored import score_anchored
    from sensitize.screen.immune import rank_combinations
    from sensitize.screen.plates import normalise_plates, to_screen_table

    m, r = bundled("demo_screen", "plate_map.csv"), bundled("demo_screen", "reader_export.csv")
    norm = normalise_plates(read_plates(m, [r]), correction="treatment_polish", polish_scale="log")
    st = to_screen_table(norm, induction_scale="log2_fc", block_by=["design"])
    return {"map": m, "reads": r, "norm": norm, "screen_table": st, "ranking": rank_combinations(st),
            "anchored": score_anchored(st)}


@pytest.fixture(scope="session")
def invivo_analysis() -> Any:
    from sensitize.invivo.simulate import simulate_study
    from sensitize.invivo.study import analyze

    return analyze(simulate_study(seed=1, n_per_arm=6), n_boot=30, ra_nsim=50, seed=1)


@pytest.fixture(scope="session")
def cohort_analysis() -> tuple[Any, Any]:
    from sensitize.cohort.analyze import analyze_cohort
    from sensitize.cohort.data import build_cohort
    from sensitize.cohort.simulate import simulate_cohort

    sim = simulate_cohort(60, 10, seed=3)
    cohort = build_cohort(sim.expression, sim.clinical, name="simcohort")
    return analyze_cohort(cohort, ["CXCL9", "CD8A"], ["CYT"], n_perm=20, seed=1), cohort


class _Links(HTMLParser):
    """Collect every URL-bearing attribute of every tag."""

    ATTRS: ClassVar[set[str]] = {"src", "href", "xlink:href", "action", "data", "poster", "srcset", "formaction", "background"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        for k, v in attrs:
            if k.lower() in self.ATTRS and v is not None:
                self.urls.append((tag, k, v))


def external_references(html: str) -> list[tuple[str, str, str]]:
    """``(tag, attribute, value)`` of every reference to something outside the file."""
    p = _Links()
    p.feed(html)
    bad = [(t, k, v) for t, k, v in p.urls
           if re.match(r"^\s*(https?:|//|ftp:|file:)", v, re.I)
           or (k in ("src", "href", "xlink:href") and not v.startswith(("data:", "#")))]
    for tag, attrs in p.tags:
        if tag == "link":
            bad.append((tag, "link", str(attrs)))
        if tag == "script" and "src" in attrs:
            bad.append((tag, "src", str(attrs["src"])))
    # CSS url(...) and @import pointing outside, in the style sheets and style attributes
    css = " ".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.S | re.I))
    css += " ".join(str(a.get("style", "")) for _, a in p.tags)
    for m in re.finditer(r"(?:url\(\s*['\"]?|@import\s+['\"]?)(https?:|//)", css, re.I):
        bad.append(("css", "url", m.group(0)))
    return bad


def pdf_pages(pdf: bytes) -> int:
    """Page count: pdfinfo when installed, else the page objects in the file."""
    if shutil.which("pdfinfo"):
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
            fh.write(pdf)
            fh.flush()
            out = subprocess.run(["pdfinfo", fh.name], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"Pages:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def check_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert pdf_pages(pdf) > 1
