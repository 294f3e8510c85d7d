"""trainspec.engine"""
