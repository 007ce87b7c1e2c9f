"""Data: annotation readers, vocabularies, the feature store, the synthetic benchmark."""
