"""In vivo tumour-growth studies: growth models, response metrics, synergy and survival.

Start with :func:`sensitize.io.invivo.read_invivo` to load a sheet, then
``GrowthStudy(df).fit()`` or :func:`analyze` for everything at once.  See docs/invivo.md.
"""

from sensitize.invivo.growth import GrowthRates, LongitudinalResult
from sensitize.invivo.response import ResponseResult, best_responses, mrecist_class
from sensitize.invivo.schema import ValidationReport, validate_study
from sensitize.invivo.simulate import simulate_study
from sensitize.invivo.study import Arms, GrowthStudy, InvivoAnalysis, analyze, detect_arms
from sensitize.invivo.survival import SurvivalResult
from sensitize.invivo.synergy import SynergyResult

__all__ = [
    "Arms",
    "GrowthRates",
    "GrowthStudy",
    "InvivoAnalysis",
    "LongitudinalResult",
    "ResponseResult",
    "SurvivalResult",
    "SynergyResult",
    "ValidationReport",
    "analyze",
    "best_responses",
    "detect_arms",
    "mrecist_class",
    "simulate_study",
    "validate_study",
]
