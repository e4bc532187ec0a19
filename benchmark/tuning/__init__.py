"""Hyper-parameter search (``run_benchmark.py tune``): an Optuna study of one model and treatment that
maximises validation macro F1, each trial a fair run of the trainer, stored in SQLite under the results folder
so an interrupted study resumes; on Ray Tune for a cluster; and the tuned settings as a file a grid takes
(``--params``). Optuna and Ray are optional: only this package imports them, and only when a tune runs.
"""
