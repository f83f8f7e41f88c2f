"""brainmets.diagnosis"""
