"""The reporter: reads only a run directory, writes summary.json, report.html, junit.xml.

``hdr_batch`` / ``hdr`` (decoding and merging the interval histograms read
through ``loadkit.rundir``), ``phases`` / ``analysis`` / ``recovery`` /
``drift`` (statistics per endpoint, phase and stage; recovery after faults;
soak trends), ``checks`` / ``verdicts`` / ``baseline`` (the check language and
regression gates), ``report`` / ``text`` / ``plots`` / ``html`` / ``junit``
(outputs), ``cli`` (``loadkit report | baseline | compare``).
"""
