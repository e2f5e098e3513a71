"""Training and evaluation of the classifiers (scikit-learn; needed only to retrain, not to serve)."""
