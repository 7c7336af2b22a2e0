"""DiffC tools: rate sweeps over images (:mod:`diffc.tools.sweep`) and the demo (:mod:`diffc.tools.demo`)."""
