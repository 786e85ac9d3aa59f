"""Benchmarks of the 3M-SER teacher and students: latency, throughput, memory, FLOPs, training cost.

Modules (imported on use, so that the memory worker stays free of TensorFlow):

* `flops`: analytic FLOPs per sample;
* `models`: the teacher and students to measure;
* `clips`: real test clips as model inputs;
* `backends`: Keras, XLA, SavedModel and TFLite predictors;
* `inference`: batch-1 latency, throughput, time per branch;
* `memory`: peak memory in a fresh process;
* `training_cost`: seconds per training epoch;
* `report`: markdown, JSON and the accuracy/latency PNG;
* `suite`: the whole benchmark (`run_benchmark`).

Example:

>>> from ser_keras.benchmarks.suite import BenchmarkConfig, run_benchmark
>>> outputs = run_benchmark(BenchmarkConfig(repeats=50))  # doctest: +SKIP
>>> outputs.paths["markdown"]  # doctest: +SKIP
'saved_models/benchmark/benchmark.md'
"""
