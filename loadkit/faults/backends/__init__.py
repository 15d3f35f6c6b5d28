"""Fault backends: ``base`` (the Protocol every backend implements and the set
of them), ``proxy`` (toxics through a Toxiproxy-compatible proxy), ``process``
(signals to processes), ``docker`` (containers) and ``http`` (app-level faults
and plain HTTP calls).
"""
