"""videoqa_core: the VideoQA model of the paper, its datasets, training, evaluation and
explanations. The dashboard talks to it only through :mod:`videoqa_core.inference`."""

__version__ = "0.1.0"
