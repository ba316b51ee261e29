"""Speed and memory measurements: run each as `python -m benchmarks.<name>` from the project root."""
