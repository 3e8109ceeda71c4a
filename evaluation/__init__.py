"""Measuring the models offline against baselines (``make evaluate``): held-out completion
tasks, executable infilling, the assistant tasks' quality. Tools, like ``bench``: nothing of the
product imports them."""
