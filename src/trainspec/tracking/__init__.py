"""trainspec.tracking"""
