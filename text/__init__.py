"""Text tools every layer reads with: normalisation, the Simplified/Traditional fold, segmentation, linear models, PII.

The bottom layer: it imports nothing of ours (tests/test_layers.py enforces that).
"""
