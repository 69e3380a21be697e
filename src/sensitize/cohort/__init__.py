"""sensitize.cohort: immune signatures, hot/cold calls and predictive biomarkers of response and survival.

Public API
----------
Data: :func:`build_cohort`, :class:`Cohort`, :func:`parse_event`, :func:`parse_response`
Signatures: :func:`score_signatures`, :func:`get_signature`, :func:`list_signatures`,
:func:`call_hot_cold`
Response: :func:`response_association`, :func:`auc_delong`
Survival: :func:`cox_biomarker`, :func:`kaplan_meier`, :func:`logrank`,
:func:`split_groups`, :func:`meta_analysis`, :func:`maxstat_test`,
:func:`cumulative_dynamic_auc`
Pipeline: :func:`analyze_cohort`; demo data: :func:`simulate_cohort`
"""

from sensitize.cohort.analyze import CohortAnalysis, analyze_cohort
from sensitize.cohort.data import Cohort, build_cohort, parse_event, parse_response
from sensitize.cohort.maxstat import MaxstatResult, maxstat_test
from sensitize.cohort.response import ResponseAssociation, auc_delong, response_association
from sensitize.cohort.signatures import (
    SignatureScores,
    call_hot_cold,
    get_signature,
    list_signatures,
    score_signatures,
)
from sensitize.cohort.simulate import simulate_cohort
from sensitize.cohort.survival import (
    CoxResult,
    KMResult,
    cox_biomarker,
    kaplan_meier,
    logrank,
    meta_analysis,
    split_groups,
)
from sensitize.cohort.timeroc import cumulative_dynamic_auc

__all__ = [
    "Cohort", "CohortAnalysis", "CoxResult", "KMResult", "MaxstatResult", "ResponseAssociation",
    "SignatureScores", "analyze_cohort", "auc_delong", "build_cohort", "call_hot_cold",
    "cox_biomarker", "cumulative_dynamic_auc", "get_signature", "kaplan_meier", "list_signatures",
    "logrank", "maxstat_test", "meta_analysis", "parse_event", "parse_response",
    "response_association", "score_signatures", "simulate_cohort", "split_groups",
]
