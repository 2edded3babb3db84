"""HTML and Markdown reports with plots, built from run records.

``build_report(records, out_dir)`` writes one self-contained HTML file (plots embedded, no
scripts, no network) and a Markdown twin; ``transferkit report RUN...`` is its command line.
matplotlib (the ``report`` extra) is imported only when plots are drawn.
"""

from transferkit.report.build import (
    build_report,
    default_out_dir,
    latest_fits,
    load_records,
    make_document,
)

__all__ = ["build_report", "default_out_dir", "latest_fits", "load_records", "make_document"]
