"""Using a built model: load a bundle as a predictor (verified), and score predictions."""
