"""The trainer: backbones, data from the catalog, training, evaluation and reports."""

import os

# TensorFlow's C++ start-up notes (oneDNN, CPU features) would print on every `train`
# command, `--help` included; warnings and errors still show. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
