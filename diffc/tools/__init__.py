"""DiffC tools: image I/O, metrics, classical baselines, plots and sweeps."""
