"""A look at one zero-shot idea: output rows that carry the teacher's mass of the longer tokens they begin.

When the teacher has " frontiers" whole and the student writes " front" + "iers", the student's " front"
should get the probability the teacher gives every token that the student would begin with " front".
SmolLM2 ties its input and output embeddings, so the student's head is untied first (the input rows stay
as the hybrid transplant made them) and, for every student token that the teacher also has and that
begins such longer teacher tokens, its output row is fitted by least squares so that, on the teacher's
final hidden states over training text (never the held-out text), its logit matches the log-sum-exp of
the teacher's logits of those tokens. The result is saved as a plain HF folder and scored like
benchmarks/distill.py's rows (pooled held-out English); `benchmarks/distill_gap.py FOLDER` then shows
which chunks gained and which lost. Results: results/prefix_rows.json.

    .venv/bin/python benchmarks/prefix_rows.py [--texts 32]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import distill as bench
import torch
from results_file import write_results

from tokwork.cache import cache_root

RESULTS = Path(__file__).parent / "results" / "prefix_rows.json"
OUT = bench.WORK / "gpt2-hybrid-prefix-rows"
THREADS = 2


def longer_tokens(teacher, student) -> dict[int, list[int]]:
    """Student id -> [its teacher id, then the teacher tokens the student lacks and would begin with it]."""
    teacher_view, student_view = teacher.tokenizer.byte_view, student.tokenizer.byte_view
    teacher_pieces = [teacher_view[i] or b"" for i in range(teacher.tokenizer.vocab_size)]
    teacher_id = {piece: i for i, piece in enumerate(teacher_pieces) if piece}
    student_has = {student_view[i] for i in range(student.tokenizer.vocab_size) if student_view[i]}
    missing, texts = [], []
    for i, piece in enumerate(teacher_pieces):
        if piece and piece not in student_has:
            try:
                texts.append(piece.decode("utf-8"))
            except UnicodeDecodeError:
                continue  # a piece of a character: no text to encode
            missing.append(i)
    groups: dict[int, list[int]] = {}
    for token, ids in zip(missing, student.tokenizer.encode_batch(texts), strict=True):
        own = teacher_id.get(student_view[ids[0]]) if ids else None
        if own is not None:
            groups.setdefault(ids[0], [own]).append(token)
    return groups


def teacher_states(teacher, texts: int) -> torch.Tensor:
    """The teacher's final hidden states (what its head reads) over `texts` training texts."""
    from tokwork.transplant.distill.texts import training_texts

    stream = training_texts([cache_root() / "corpora" / "en-docs" / "train.txt"], text_chars=512, seed=123)
    prefix = teacher.tokenizer.specials.bos
    states = []
    with torch.inference_mode():
        for _ in range(texts):
            ids = ([prefix] if prefix is not None else []) + teacher.tokenizer.encode(next(stream))
            states.append(teacher.model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0])
    return torch.cat(states).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=32, help="training texts whose hidden states the fit reads")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    torch.set_num_threads(THREADS)
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.checkpoint import load_checkpoint

    transformers_logging.disable_progress_bar()
    teacher = load_checkpoint(cache_root() / "models" / "smollm2-135m-instruct")
    student_folder = bench.zero_shot_student(teacher.path, "gpt2")
    student = load_checkpoint(student_folder)
    groups = longer_tokens(teacher, student)
    states = teacher_states(teacher, args.texts)
    head = teacher.model.get_output_embeddings().weight.detach().float()
    logits = states @ head.T
    ids = torch.tensor(list(groups))
    targets = torch.stack([torch.logsumexp(logits[:, groups[int(i)]], 1) for i in ids], 1)
    rows = (torch.linalg.pinv(states) @ targets).T
    own = head[[groups[int(i)][0] for i in ids]]
    fit = {"rows": len(groups), "teacher_tokens_folded_in": sum(len(g) - 1 for g in groups.values()),
           "states": states.shape[0],
           "rms_target_minus_own_row_logit": round(float((targets - states @ own.T).pow(2).mean().sqrt()), 4),
           "rms_target_minus_fitted_logit": round(float((targets - states @ rows.T).pow(2).mean().sqrt()), 4)}
    model = student.model
    untied = torch.nn.Parameter(model.get_input_embeddings().weight.detach().clone())
    with torch.no_grad():
        untied[ids] = rows.to(untied.dtype)
    model.config.tie_word_embeddings = False
    model.get_output_embeddings().weight = untied
    staging = OUT.with_name(OUT.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (student_folder / name).is_file():
            shutil.copy(student_folder / name, staging / name)
    shutil.rmtree(OUT, ignore_errors=True)
    staging.rename(OUT)
    english = {k: v for k, v in bench.heldout_texts().items() if k in bench.ENGLISH}
    result = {"fit": fit, "zero-shot hybrid": bench.score(student_folder, english),
              "prefix rows": bench.score(OUT, english), "folder": str(OUT)}
    print(json.dumps(result, indent=2))
    write_results(RESULTS, result, indent=2)


if __name__ == "__main__":
    main()
