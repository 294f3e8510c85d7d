"""trainspec.experiments"""
