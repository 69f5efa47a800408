"""The trainer: backbones, data from the catalog, training, evaluation and reports."""
