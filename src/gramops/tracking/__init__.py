"""The MLflow mirror: stage results as runs, registry entries as model versions."""
