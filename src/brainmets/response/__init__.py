"""brainmets.response"""
