"""Answering requests with a registered model."""
