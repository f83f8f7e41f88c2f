"""brainmets.service"""
