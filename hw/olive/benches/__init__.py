"""cocotb benches of the OliVe components (run through :func:`hw.cocotb_bench.run_bench`)."""
