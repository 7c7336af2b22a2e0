"""Experiments that run as sweeps of jobs: the shared runner (:mod:`rcc.experiments.runner`) and the
rate-overhead experiment behind ``rcc overhead`` (:mod:`rcc.experiments.overhead`)."""
