"""Watching models in use: synthetic shift, drift, traffic replays, cost and the gate."""
