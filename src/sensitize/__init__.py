"""sensitize: from the plate to the mouse to the patient.

Sub-packages
------------
io       readers for screen, in vivo and cohort files
screen   drug-combination screens: dose-response, synergy, sensitivity
invivo   mouse tumour-growth studies
cohort   patient cohorts: signatures, biomarkers, survival
pl       plots (take result objects, return figures)
report   HTML/PDF reports
app      local web app
cli      the ``sensitize`` command
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
