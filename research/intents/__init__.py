"""Evaluation of the intent classifier on labelled data sets (BANKING77, CLINC150)."""
