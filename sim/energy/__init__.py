"""Energy: per-action tables with sources (``*.yaml``) and action counts × table → pJ."""
