"""Running: from a grid to finished runs in the run store.

Owns the plan of a grid and the identity of each run (``plan``), the compute settings (``compute``),
training one model (``trainer``) or a pack of them on JAX (``packed``), where runs execute
(``executors``), the driver that writes every outcome through the store (``runner``), and scoring
saved models on a test set without training (``evaluate``).
"""
