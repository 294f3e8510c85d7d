"""trainspec.data"""
