"""Zero-shot tokenizer transfer with a hypernetwork, in PyTorch, small enough to train on a CPU.

After Minixhofer, Ponti & Vulić 2024, "Zero-Shot Tokenizer Transfer" (ZeTT): a small transformer reads
the source model's embeddings of the pieces the source tokenizer cuts a new token into, and predicts
the new token's input (and, for an untied head, output) embedding. It is trained once per source model
against the frozen model's language-modelling loss on text cut by many sampled tokenizers, and then
serves any target tokenizer (`tokwork transplant --method hypernet --hypernet DIR`).

- `model`: the hypernetwork and its saved configuration;
- `sampling`: what it is shown in training: sampled tokenizers, text windows, split source tokens;
- `training`: the training loop (warm-up, language-modelling and auxiliary losses, resume);
- `checkpoint`: the hypernetwork folder: card, weights, optimizer state, checks against a source model;
- `method`: the registered transplant method `hypernet`.
"""
