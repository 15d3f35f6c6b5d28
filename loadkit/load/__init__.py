"""How load changes over time.

``stages`` (the closed model as plain data: the Stage type, the shape kinds,
their validation and arithmetic; imports no Locust), ``shape`` (the Locust
``LoadTestShape`` adapters over it: stages, ramp, steps, spike and soak) and
``arrival`` (the open model: a fixed arrival rate of iterations) and ``graceful``
(stopping a run waits for the users' graceful stop, on a master too).
"""
