"""Tokenizer metrics: compression, entropy, cross-lingual premiums, integrity, and the benchmark report.

This folder is installed as `tokwork.metrics`; importing it under any other name is a mistake that would
load a second copy of the code, so it is refused.
"""

if __name__ != "tokwork.metrics":
    raise ImportError("import tokwork.metrics, not the folder 'metrics' on its own")
