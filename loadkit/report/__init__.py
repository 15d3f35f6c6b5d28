"""The reporter: reads only a run directory, writes summary.json, report.html, junit.xml.

``rundir`` / ``hlog_reader`` / ``hdr_batch`` / ``hdr`` (reading and merging
the interval histograms), ``phases`` / ``analysis`` / ``recovery`` / ``drift``
(statistics per endpoint, phase and stage; recovery after faults; soak
trends), ``checks`` / ``verdicts`` / ``baseline`` (the check language and
regression gates), ``report`` / ``text`` / ``plots`` / ``html`` / ``junit``
(outputs), ``cli`` (``loadkit report | baseline | compare``), ``synthetic``
(generated run directories for tests and benches).
"""
