"""mediamon's demo and test kit: loopback servers, replayed corpora, generated corpora and reader-labelled sets.

Not used by the pipeline itself; the demo, the tests and the benchmarks import it.
"""
