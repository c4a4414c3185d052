"""Paper-ready reports from logs, comparisons, studies and probe results."""

from prosaic_evals.report._inputs import Inputs, gather
from prosaic_evals.report._report import Report, ReportOptions, build_report, write_report

__all__ = ["Inputs", "Report", "ReportOptions", "build_report", "gather", "write_report"]
