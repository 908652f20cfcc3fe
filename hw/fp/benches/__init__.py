"""cocotb benches of the floating-point units (run through :func:`hw.cocotb_bench.run_bench`)."""
