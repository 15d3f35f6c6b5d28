"""loadkit.report."""
