"""Data: raw PhysioNet records in, labelled single-beat windows and their splits out.

Owns finding, downloading and verifying records (``records``), cutting them into beats (``beats``),
and the train / validation / test splits with the cached beat set (``splits``). Knows nothing of
models, runs or reports.
"""
