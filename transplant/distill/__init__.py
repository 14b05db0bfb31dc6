"""Self-distillation after a transplant: the original model teaches the transplanted one.

After Minixhofer et al. 2025, "Cross-Tokenizer Distillation via Approximate Likelihood Matching". The
teacher is the source model with its own tokenizer, the student the transplanted model with the new one;
the two tokenize a text differently, so their likelihoods are compared on the byte spans where both
tokenizations have a boundary (`chunks`), never token by token.
"""
