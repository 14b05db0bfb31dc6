"""Vocabulary transplant: new tokenizers onto existing checkpoints, evaluated in bits per byte.

This folder is installed as `tokwork.transplant`; importing it under any other name is a mistake that would
load a second copy of the code, so it is refused.
"""

if __name__ != "tokwork.transplant":
    raise ImportError("import tokwork.transplant, not the folder 'transplant' on its own")
