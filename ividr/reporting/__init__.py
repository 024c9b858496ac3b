"""Reporting: the scores a fit and ``ividr score`` share (``scoring``), a fit's diagnostics
(``diagnostics``), and the figures (``plots``, ``plot_history``). Imports nothing itself."""
