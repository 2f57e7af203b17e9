"""Synthetic exports shaped like the real ones, for tests, the demo and the benchmarks: not part of
the product (the installed `utfall` does not include it). `synth.sample` writes the bundled sample
(data/sample: 13 municipalities, every fault the adapters must handle); the national benchmark's
inbox is `synth.national`. The files they write keep the name "utfall samplegen" as their
creator: changing it would change the sample's bytes."""
