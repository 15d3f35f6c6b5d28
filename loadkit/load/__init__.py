"""How load changes over time.

``shape`` (stages, ramp, steps, spike and soak as Locust ``LoadTestShape``
classes) and ``arrival`` (the open model: a fixed arrival rate of iterations).
"""
