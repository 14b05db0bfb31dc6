"""Command-line options that several commands share, declared once so that they read the same everywhere."""

from __future__ import annotations

import typer

SEED_LIMIT = (1 << 63) - 1  # seeds are non-negative 64-bit words, as every random stream here takes them
# what every tokenizer argument also takes: a reference tokenizer by name (a path of that name wins)
REFERENCE_NAMES = "or a reference name: gpt2, llama3, gemma3, qwen3, cl100k, o200k"

CorpusArg = typer.Argument(..., help="Corpus files, folders (searched for .txt/.jsonl/.gz) or globs.",
                           show_default=False)
TrainingCorpusOpt = typer.Option(..., "--corpus", "-c", help="Training text: files, folders, .jsonl or .gz "
                                 "(repeat for several).", show_default=False)
VocabOpt = typer.Option(..., "--vocab-size", "-v", help="Number of tokens in the vocabulary.", show_default=False)
OutputOpt = typer.Option(..., "--output", "-o", help="Output directory (written atomically).", show_default=False)
TextFieldOpt = typer.Option("text", "--text-field", help="Field holding the text in .jsonl records.")
ForceOpt = typer.Option(False, "--force", help="Replace an existing output directory that tokwork did not make.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars.")
AddressOpt = typer.Option(None, "--address", help="With --engine ray: the cluster's head as host:port (its GCS port, "
                          "6379 by default); default: $RAY_ADDRESS, else a local Ray of this command's own, which "
                          "takes a few seconds to start. Needs pip install 'tokwork\\[ray]'; a cluster's workers must "
                          "see the same corpus and tokenizer paths.")
DistillBatchOpt = typer.Option(8, "--batch-size", help="Distillation: texts per step.")
DistillTextCharsOpt = typer.Option(512, "--text-chars", help="Distillation: characters per training text (about).")
Float32Opt = typer.Option(False, "--float32", help="Run the model in float32 where bfloat16 autocast is the default "
                          "(a GPU, a CPU with AMX or AVX-512 BF16: there a bfloat16 step costs about half a float32 "
                          "one); a resumed run keeps its own choice.")
CheckpointActivationsOpt = typer.Option(False, "--checkpoint-activations", help="Distillation: the student's "
                                        "layers keep only their inputs and compute the rest again in the "
                                        "backward: about one more forward's work for much less memory on large "
                                        "batches; the same numbers, so a resumed run may change it.")
ThreadsOpt = typer.Option(None, "--threads", min=1, help="Torch CPU threads (default: torch's choice).")
