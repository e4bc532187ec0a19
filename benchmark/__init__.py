"""ecg-oversampling-bench: which class-imbalance handling helps which heartbeat classifier."""
__version__ = "0.1.0"
