"""Transfer learning: a grid's saved models carried to another database's patients.

Owns the settings of a transfer (``config``), the target's beats (``target``: a database of the external
registry, or a user's Kaggle-layout binary CSVs), its split into fine-tuning, validation and test records with
nested fractions of the fine-tuning part (``split``), the four strategies compared (``strategies``: the saved
model as it is, fine-tuned, frozen features with a new head, and from scratch), the identity of every transfer
run (``plan``), the driver that trains and records them (``runner``), and TRANSFER.md (``analysis`` and
``report``). Training goes through the Keras estimator's one early-stopping loop.
"""
