"""loadkit.metrics."""
