"""loadkit.faults."""
