"""audio3a benchmarks: latency, concurrency, cold start and quality."""
