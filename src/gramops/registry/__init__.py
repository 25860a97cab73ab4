"""The model registry: refs, audit log, journal, store, content-addressed objects, verify."""
