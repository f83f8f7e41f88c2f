"""brainmets.report"""
