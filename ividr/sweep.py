"""Backwards-compatible names of the sweep API, which lives in :mod:`ividr.experiments`.

New code imports from the modules of :mod:`ividr.experiments` (grid, runner, store, summaries,
reports) and :mod:`ividr.registry`; this module only re-exports them for user code written
against the old single module.
"""

from ividr.experiments.grid import (  # noqa: F401
    DATA_VALUE_LABEL,
    DEFAULT_KNOB,
    DEFAULT_MODELS,
    DEFAULT_VALUES,
    FORBIDDEN_KNOBS,
    RunSpec,
    SweepConfig,
    SweepError,
    available_presets,
    data_sweep_values,
    format_value,
    knob_kind,
    parse_values,
)
from ividr.experiments.reports import (  # noqa: F401
    METRIC_TITLES,
    SUMMARY_REFERENCE_COLUMNS,
    format_p,
    paired_tests_csv,
    paired_tests_markdown,
    print_summary,
    seeds_label,
    spread_markdown,
    summary_markdown,
)
from ividr.experiments.run import (  # noqa: F401
    FitFn,
    dataset_path,
    default_fit,
    execute_run,
    flat_diagnostics,
    get_dataset,
    run_references,
)
from ividr.experiments.runner import DEFAULT_THREADS, SweepOutcome, run_sweep  # noqa: F401
from ividr.experiments.store import (  # noqa: F401
    ROW_COLUMNS,
    TAIL_COLUMNS,
    check_resumable,
    finished_runs,
    load_results,
    read_config,
    save_run,
    write_tables,
)
from ividr.experiments.summaries import (  # noqa: F401
    PRIOR_ONLY_METRIC,
    REFERENCE_COLUMNS,
    REGRET_METRIC,
    SPREAD_FIELDS,
    SUMMARY_METRICS,
    TEST_METRICS,
    draw_of,
    paired_tests,
    summarize,
    summarize_references,
)
from ividr.registry import (  # noqa: F401
    LATENT_MODELS,
    SHUFFLE_MODELS,
    SHUFFLE_SUFFIX,
    STOP_SEPARATOR,
    available_models,
    split_model,
    split_stop,
    with_stop_rules,
)
