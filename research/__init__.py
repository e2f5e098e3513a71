"""Experiments on the classifiers and their history (LOG.md); imported by nothing in the product."""
