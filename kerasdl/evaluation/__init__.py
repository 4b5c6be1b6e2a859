"""Test-time evaluation: multi-crop prediction and ensembles, with the significance of their gains."""
