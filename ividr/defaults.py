"""Defaults shared by the estimators, :class:`ividr.api.FitConfig` and the CLIs (no torch here,
so that ``--help`` stays fast).

Latent-stage restarts (DESIGN §4.3): why these values is measured in the README ("Stable latent
fits"); ``benchmarks/collapse_ablation.py`` and ``benchmarks/idcf_sim.py`` regenerate it.
"""

#: Independently initialised latent stages per fit, kept by held-out negative ELBO.
DEFAULT_RESTARTS = 1
#: First successive-halving rung of the restarts (epochs); 0 trains every restart to its end.
DEFAULT_RESTART_SCREEN_EPOCHS = 0
