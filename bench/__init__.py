"""Reference implementations and benchmarks, kept apart from the pipeline itself."""
