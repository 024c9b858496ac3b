"""Speed and reproduction scripts (docs/layout.md); a package so that they share helpers.

Run a script from the repository root as ``.venv/bin/python benchmarks/<script>.py`` (the package
is installed with the project, editable, so ``benchmarks._gamma_folders`` imports from anywhere)
or as ``.venv/bin/python -m benchmarks.<script>``.
"""
