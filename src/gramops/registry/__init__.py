"""The model registry: content-addressed bundles, named by semver and alias, audited.

``store.Registry`` is the facade; its concerns live apart: ``layout`` (names, location,
errors), ``refs`` (semver, alias and SHA-prefix rules), ``auditlog`` (the log's records),
``journal`` (lock, journal, recovery), ``reader`` (lock-free reads), ``catalog`` (register,
annotate, gc), ``bindings`` (tag, promote, rollback), ``entries`` and ``verify`` (what ties
an entry to its bytes), ``objects`` (the bytes), ``backends`` and ``s3`` (the metadata).
"""
