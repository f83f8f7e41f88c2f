"""brainmets.cohort"""
