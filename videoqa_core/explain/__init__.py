"""Explanations beyond the trace: attributions (captum), grounding against evidence,
counterfactual edits, and the analysis store the dashboard filters.

    attribution.py     attribute(predictor, appearance, motion, question) -> Attribution
    grounding.py       pointing accuracy / evidence mass per method; `grounding` command
    counterfactual.py  edit frames, question, candidates; compare two Explanations
    store.py           the analysis store; `analyze` command; `--bench`

Submodules are imported where they are used: captum is only loaded for attributions.
"""
