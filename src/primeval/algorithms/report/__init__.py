"""Reports on finished (or stopped) runs: ``primeval report RUN`` (:mod:`.html`)."""

from primeval.algorithms.report.html import ReportError, write_report

__all__ = ["ReportError", "write_report"]
