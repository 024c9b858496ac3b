"""Experiments: sweeps of a simulator knob x models x seeds, fitted, stored, summarised (§6).

One module per job; importing this package imports none of them:

- :mod:`~ividr.experiments.grid`: the grid and its config (:class:`SweepConfig`, :class:`RunSpec`);
- :mod:`~ividr.experiments.variants`: the variant axis's names (``idcf[shuffle]``) and
  command-line text;
- :mod:`~ividr.experiments.errors`: :class:`SweepError`;
- :mod:`~ividr.experiments.run`: one run (dataset, fit, scores), executed in a worker;
- :mod:`~ividr.experiments.backends`: where runs run (local processes, Ray);
- :mod:`~ividr.experiments.runner`: the driver, :func:`run_sweep`;
- :mod:`~ividr.experiments.layout`: the run folder that ``ividr fit`` and a sweep's runs share;
- :mod:`~ividr.experiments.store`: the sweep directory (finished runs, tables, resume);
- :mod:`~ividr.experiments.summaries`: means, spreads, references, paired t-tests, as data;
- :mod:`~ividr.experiments.reports`: their CSV and Markdown renderers.
"""
