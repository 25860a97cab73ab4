"""Shared test helpers: tiny bundles, registries, import graphs (one home each)."""
