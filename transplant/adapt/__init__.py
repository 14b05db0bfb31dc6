"""Adapting a model to a language end to end: extend its tokenizer, transplant, distill, evaluate.

A model whose tokenizer charges a language several times what it charges English is slow and
short-contexted in it; language-adaptation projects extend the tokenizer, make rows for the new tokens
and heal the model by training, with a script per step. `adapt_model` runs those steps, each the library
call that does it alone:

1. extend: `tokwork.trainers.extend.extend_tokenizer` learns `add` tokens on the language's corpus; every
   old token keeps its id.
2. transplant: `tokwork.transplant.pipeline.transplant_vocabulary` puts the extended tokenizer on the
   model; old rows are copied exactly, new rows come from `method`.
3. distill: `tokwork.transplant.distill.training.distill` trains the transplanted model against the
   original on the same corpus (Minixhofer et al. 2025, "Cross-Tokenizer Distillation via Approximate
   Likelihood Matching").
4. evaluate: tokens per byte of both tokenizers, and bits per byte (`tokwork.transplant.evaluate`) of the
   original, the zero-shot transplanted and the distilled model, on held-out text never trained on.

Each step writes into its own folder of the work area, a hidden sibling of the output
(`.OUT.adapt-work/extend`, ...), through a temporary folder renamed into place, with a record of its inputs
(`adapt-step.json`: the settings and fingerprints of the files it reads, chained to the step before). A
step whose folder holds a record of the same inputs is skipped, so an interrupted run resumes after the
last finished step (a distillation cut short resumes from its last checkpoint). The output is the
distilled model as a plain HF folder with a card (`tokwork.json`) that holds every step's card, and the
evaluation (`adapt.json`); the work area is removed then, unless kept.

- `config`: what an adaptation does (`AdaptConfig`), the language's texts, the held-out texts;
- `resume`: the work area, each step's record of its inputs, the fingerprints they are made of;
- `scores`: tokens per byte and bits per byte of each stage of the model on held-out text;
- `pipeline`: `adapt_model`, which runs the steps and writes the adapted model.
"""
