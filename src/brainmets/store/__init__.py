"""brainmets.store"""
