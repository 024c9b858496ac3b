"""Training: the loops (``loops``), the stages the models share (``stages``), the released
codes' protocols (``protocols``), devices, progress reports and IViDR's treatments.

This ``__init__`` imports nothing, so that a torch-free module (``treatments``, ``progress``)
can be imported without torch."""
