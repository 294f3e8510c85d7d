"""trainspec.inference"""
