"""brainmets.imaging"""
