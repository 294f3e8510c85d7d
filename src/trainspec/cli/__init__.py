"""trainspec.cli"""
