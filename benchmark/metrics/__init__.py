"""Metrics and statistics: pure functions of labels and scores, no files and no Keras.

Owns the classification metrics (``evaluator``), intervals and paired bootstrap tests (``stats``),
the comparison families behind the report's marks (``comparisons``) and average ranks (``ranks``).
"""
