"""Synthetic exports shaped like the real ones, for tests, the demo and the benchmarks: not part of
the product (the installed `utfall` does not include it). `synth.sample` writes the bundled sample
(data/sample: five municipalities, every fault the adapters must handle); `synth.national` the
national benchmark's inbox (up to 290 municipalities). How both write an export (personnummer,
Excel dates, month labels, kronor, text encodings, workbooks with fixed timestamps) is
`synth.exports`. The files they write keep the name "utfall samplegen" as their creator: changing
it would change the sample's bytes."""
