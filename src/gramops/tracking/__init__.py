"""The MLflow mirror: stage results as runs, registry entries as model versions.

``connect`` opens the store, ``pipeline`` reads what a pipeline execution produced, ``runs``
logs it, ``models`` mirrors the registry and ``verify`` compares the two. Identity stays with
the canonical SHA; MLflow is a mirror for people browsing results.
"""
