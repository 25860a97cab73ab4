"""The models: features, the numpy MLP (FP32, INT8, LoRA), bundles, identity, inference."""
