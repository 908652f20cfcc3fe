"""MixPE RTL (papers/mixpe.md): shift-and-add PEs, group sums, group dequantizers and the
output-stationary array, with their benches (``benches/``), vectors and unit registrations."""
