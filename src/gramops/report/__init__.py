"""What people read: the status page, plots and the lineage render."""
