"""Number formats with golden models, the per-op numerics seam, compute models (one folder per
design), the target loader, the cycle engine, energy models."""
