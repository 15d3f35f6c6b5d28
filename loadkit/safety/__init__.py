"""What keeps a run safe for the system under test, whatever happens to loadkit.

- ``janitor``: a detached watcher that reverts an owner's journaled faults and
  removes its temp folders once the owner is gone (even after ``kill -9``).
- ``loopback``: every listener loadkit owns binds 127.0.0.1 unless the user
  opts in with ``--allow-non-loopback``; endpoints that act on processes
  refuse non-loopback clients.
- ``redact``: credentials in URLs, secret headers and fields masked
  everywhere loadkit writes or prints; ``${ENV}`` references kept unexpanded.

Imports only :mod:`loadkit.errors`, :mod:`loadkit._proc` and (lazily, in the
janitor) :mod:`loadkit.faults.journal`.
"""
