"""Network definitions leanconv ships: the default model (trained by
scripts/train_default_model.py, weights in this folder) and modules for zoo state dicts."""
