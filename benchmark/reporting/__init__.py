"""Reporting: one way, from the run store to files a reviewer reads.

store → tidy table (``tidy``: metrics recomputed from saved predictions) → tables, tests and figures
(``tables``, ``figures``) → files (``report``: runs.csv, summary.*, significance.csv, REPORT.md;
``overview``: results/README.md). Nothing here trains or changes a run.
"""
