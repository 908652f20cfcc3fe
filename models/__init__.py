"""PyTorch reference models, the model zoo, trace capture and the accuracy harness."""
