"""Number formats with golden models, cycle models, memory and energy models."""
