"""trainspec.models"""
