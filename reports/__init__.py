"""Reports: render a run directory into one self-contained ``report.html`` and a store into an index of runs, and
serve a store locally. They render and never judge: verdicts come from ``results.json``."""

from splitbrain.reports.render import index_html, render_index, render_report, report_html
from splitbrain.reports.run_dir import find_runs, load_run

__all__ = ["render_report", "render_index", "report_html", "index_html", "load_run", "find_runs"]
