"""Defaults shared by the estimators, :class:`ividr.api.FitConfig` and the CLIs (no torch here,
so that ``--help`` stays fast).

Latent-stage restarts (docs/design.md §4.3): why these values is measured in
docs/results/collapse_ablation.md and docs/results/restart_choice.md;
``benchmarks/collapse_ablation.py`` and ``benchmarks/restart_choice.py`` regenerate it.
"""

#: torch threads of a fit (``ividr fit``) and of each run of a sweep unless told otherwise. One:
#: these models are small, and torch's intra-op threads cost more than they gain (on the 2-core
#: reference machine, an iDCF fit of the default dataset ran 6-10x slower with 2 threads than
#: with 1); a sweep's parallelism comes from running runs side by side (``jobs``). 0 leaves
#: torch's own default.
DEFAULT_THREADS = 1
#: Independently initialised latent stages per fit, kept by held-out negative ELBO. Four: on
#: iDCF's data (10 seeds x 5 gammas) one restart collapsed 10 of 50 fits (MCC < 0.6), four
#: collapsed 3, and the mean MCC rose at every gamma (0.744 -> 0.823 at gamma 5, 0.556 -> 0.656
#: at gamma 20); three gave nearly as much, two much less (docs/results/restart_choice.md).
DEFAULT_RESTARTS = 4
#: First successive-halving rung of the restarts (epochs); 0 trains every restart to its end.
#: Off: the held-out ELBO at epochs 25-100 does not predict which restart collapses later, so
#: halving kept collapsed restarts and lost the gain (docs/results/restart_choice.md).
DEFAULT_RESTART_SCREEN_EPOCHS = 0
#: Bootstrap replicates (over users) of a fit's ``mcc_ci`` / ``ndcg@5_ci`` intervals.
DEFAULT_N_BOOT = 200
#: Recommender losses: "bce" (Eq. 25, the contract) or "mse" (iDCF's released code: squared
#: error between the raw score and the 0/1 label).
LOSSES = ("bce", "mse")
#: Checkpoint rules of the latent stage (see :func:`ividr.training.loops.train_latent`).
STOP_RULES = ("elbo", "ndcg", "epochs")
