"""Where a transplanted student loses against its teacher: the gap in nats, chunk by aligned chunk.

On the held-out English of benchmarks/distill.py (cut into pieces of whole paragraphs of up to
`--piece-chars` characters, each scored from its start by both models), every aligned chunk (the bytes
between two offsets where both tokenizations end a token, as `tokwork distill`'s ALM sees them) gets the
teacher's and the student's log-likelihood. Chunks are grouped by what they hold (a word, with its
leading space; digits; punctuation; only spaces; something with a newline; a mix) and by whether the two
tokenizers cut them into the same pieces. The table says how much of the student's total shortfall sits
in each group: what distillation has to teach; its last column, how much of it falls on the chunks' first
tokens (where a word is cut differently, whether the student misses at its first piece, " front" of
" frontiers", or in the pieces after it). The student is benchmarks/distill.py's zero-shot hybrid
transplant onto GPT-2's vocabulary unless a folder is given (a distilled one, to see what it has learnt).
Results: results/distill_gap.json (one entry per student).

    .venv/bin/python benchmarks/distill_gap.py [STUDENT_FOLDER] [--label NAME]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import distill as bench
import torch
from results_file import write_results

from tokwork.cache import cache_root

RESULTS = Path(__file__).parent / "results" / "distill_gap.json"
THREADS = 2


def pieces(text: str, limit: int) -> list[str]:
    """`text` cut at paragraph breaks into pieces of at most about `limit` characters."""
    out, current = [], ""
    for paragraph in text.split("\n\n"):
        if current and len(current) + len(paragraph) > limit:
            out.append(current)
            current = ""
        current += paragraph + "\n\n"
    if current.strip():
        out.append(current)
    return out


def kind(chunk: str) -> str:
    """What a chunk holds, in a few coarse groups."""
    if not chunk.strip():
        return "spaces"
    if "\n" in chunk:
        return "with newline"
    if re.fullmatch(r" ?[^\W\d_]+", chunk):
        return "word"
    if re.fullmatch(r" ?\d+", chunk):
        return "digits"
    if re.fullmatch(r"[^\w\s]+", chunk.strip()):
        return "punctuation"
    return "mixed"


def chunk_scores(teacher, student, text: str) -> list[tuple[str, bool, float, float, float, float]]:
    """(chunk text, same pieces on both sides, teacher and student log-likelihood, and the log-probability
    of each side's first token of the chunk) of every compared chunk."""
    from tokwork.transplant.distill.chunks import align_chunks, token_byte_ends
    from tokwork.transplant.distill.distiller import scored_chunks
    from tokwork.transplant.distill.losses import chunk_logprobs
    from tokwork.transplant.distill.texts import make_batch

    batch = make_batch([text], teacher.tokenizer, student.tokenizer, pack=False)
    ids = [checkpoint.tokenizer.encode(text) for checkpoint in (teacher, student)]
    if batch.teacher.ids.shape[1] - 1 != len(ids[0]):
        raise SystemExit("these tokenizers have no prefix token before the text: first tokens cannot be read")
    with torch.inference_mode():
        # the teacher's whole next-token distributions (for the prefix mass below), its tokens' from them
        teacher_next = torch.log_softmax(teacher.model(batch.teacher.ids).logits[0].float(), -1)
        teacher_tokens = teacher_next[:-1].gather(-1, batch.teacher.ids[0, 1:, None]).T
        teacher_sums = chunk_logprobs((teacher_tokens * batch.teacher.mask).reshape(-1), batch.teacher.chunks,
                                      batch.chunks + 1)[:-1]
        student_tokens, student_sums, _, _ = scored_chunks(student.model, batch.student, batch, bf16=False)
    ends = [token_byte_ends(c.tokenizer, i, text) for c, i in zip((teacher, student), ids, strict=True)]
    alignment = align_chunks(*ends)
    views = [c.tokenizer.byte_view for c in (teacher, student)]
    spelled = [defaultdict(list), defaultdict(list)]
    for side, (token_ids, chunk_of) in enumerate(zip(ids, (alignment.teacher_chunks, alignment.student_chunks),
                                                     strict=True)):
        for token, chunk in zip(token_ids, chunk_of, strict=True):
            spelled[side][int(chunk)].append(views[side][token])
    firsts, first_positions = [], []  # each side's log-probability of each chunk's first token, and where
    for token_logprobs, chunk_of in ((teacher_tokens[0], alignment.teacher_chunks),
                                     (student_tokens[0], alignment.student_chunks)):
        first, where = {}, {}
        for position, chunk in enumerate(chunk_of.tolist()):
            first.setdefault(chunk, float(token_logprobs[position]))
            where.setdefault(chunk, position)
        firsts.append(first)
        first_positions.append(where)
    data = text.encode("utf-8")
    rows = []
    for index, (start, end) in enumerate(alignment.spans()):
        if bool(batch.valid[index]):
            same = spelled[0][index] == spelled[1][index]
            mass = None
            if not same:  # the teacher's probability that the next token begins with the student's first piece
                ids = _teacher_ids_beginning_with(teacher, spelled[1][index][0])
                mass = float(torch.logsumexp(teacher_next[first_positions[0][index], ids], 0)) if len(ids) else None
            rows.append((data[start:end].decode("utf-8", "replace"), same, float(teacher_sums[index]),
                         float(student_sums[index]), firsts[0][index], firsts[1][index], mass))
    return rows


_BEGINNING: dict[bytes, torch.Tensor] = {}


def _teacher_ids_beginning_with(teacher, piece: bytes) -> torch.Tensor:
    """The teacher's tokens whose bytes begin with `piece` (the piece itself included)."""
    if piece not in _BEGINNING:
        view = teacher.tokenizer.byte_view
        _BEGINNING[piece] = torch.tensor([i for i in range(teacher.tokenizer.vocab_size)
                                          if (view[i] or b"").startswith(piece)], dtype=torch.int64)
    return _BEGINNING[piece]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("student", nargs="?", default=None, help="student folder (default: the zero-shot one)")
    parser.add_argument("--label", default=None, help="its name in the JSON (default: the folder's name)")
    parser.add_argument("--piece-chars", type=int, default=4000)
    parser.add_argument("--worst", type=int, default=15, help="how many of the worst chunks to print")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    torch.set_num_threads(THREADS)
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.checkpoint import load_checkpoint

    transformers_logging.disable_progress_bar()
    teacher_folder = cache_root() / "models" / "smollm2-135m-instruct"
    student_folder = Path(args.student) if args.student else bench.zero_shot_student(teacher_folder, "gpt2")
    teacher, student = load_checkpoint(teacher_folder), load_checkpoint(student_folder)
    for checkpoint in (teacher, student):
        checkpoint.model.eval()
    rows = []
    for name, text in bench.heldout_texts().items():
        if name in bench.ENGLISH:
            for piece in pieces(text, args.piece_chars):
                rows.extend(chunk_scores(teacher, student, piece))
    groups: dict[str, dict] = defaultdict(lambda: {"chunks": 0, "bytes": 0, "teacher_nats": 0.0,
                                                    "student_nats": 0.0, "teacher_first_nats": 0.0,
                                                    "student_first_nats": 0.0})
    for chunk, same, teacher_ll, student_ll, teacher_first, student_first, _ in rows:
        group = groups[f"{kind(chunk)}, {'same pieces' if same else 'cut differently'}"]
        group["chunks"] += 1
        group["bytes"] += len(chunk.encode("utf-8"))
        group["teacher_nats"] -= teacher_ll
        group["student_nats"] -= student_ll
        group["teacher_first_nats"] -= teacher_first
        group["student_first_nats"] -= student_first
    total_bytes = sum(g["bytes"] for g in groups.values())
    gap = sum(g["student_nats"] - g["teacher_nats"] for g in groups.values())
    bits = {side: sum(g[f"{side}_nats"] for g in groups.values()) / total_bytes / 0.6931471805599453
            for side in ("teacher", "student")}
    print(f"{student_folder.name}: {len(rows)} chunks, {total_bytes} bytes; bits per byte (pieces of up to "
          f"{args.piece_chars} characters): teacher {bits['teacher']:.4f}, student {bits['student']:.4f}; "
          f"gap {gap:.1f} nats")
    print(f"{'group':36s} {'chunks':>7s} {'bytes':>7s} {'teacher':>9s} {'student':>9s} {'gap':>8s} {'share':>6s} "
          f"{'1st-token gap':>13s}")
    table = {}
    for name, g in sorted(groups.items(), key=lambda kv: kv[1]["teacher_nats"] - kv[1]["student_nats"]):
        share = (g["student_nats"] - g["teacher_nats"]) / gap
        table[name] = {**{k: round(v, 1) if isinstance(v, float) else v for k, v in g.items()},
                       "share_of_gap": round(share, 4)}
        print(f"{name:36s} {g['chunks']:7d} {g['bytes']:7d} {g['teacher_nats']:9.1f} {g['student_nats']:9.1f} "
              f"{g['student_nats'] - g['teacher_nats']:8.1f} {share:6.1%} "
              f"{g['student_first_nats'] - g['teacher_first_nats']:13.1f}")
    shortfall = sum(r[2] - r[3] for r in rows if r[3] < r[2])
    ahead = sum(r[3] - r[2] for r in rows if r[3] > r[2])
    print(f"nats the student is short where it is below the teacher: {shortfall:.1f}; ahead where above: {ahead:.1f}")
    words = [r for r in rows if not r[1] and kind(r[0]) == "word" and r[6] is not None]
    prefix = {"chunks": len(words), "student_first_nats": round(-sum(r[5] for r in words), 1),
              "teacher_first_nats": round(-sum(r[4] for r in words), 1),
              "teacher_prefix_mass_nats": round(-sum(r[6] for r in words), 1)}
    print(f"words cut differently ({prefix['chunks']}): the student's first piece costs "
          f"{prefix['student_first_nats']} nats; the teacher's first token {prefix['teacher_first_nats']}; the "
          f"teacher's probability of a next token that begins with the student's first piece "
          f"{prefix['teacher_prefix_mass_nats']}")
    worst = sorted(rows, key=lambda r: r[3] - r[2])[:args.worst]
    for chunk, same, teacher_ll, student_ll, _, _, _ in worst:
        print(f"  {teacher_ll - student_ll:6.2f} nats short on {chunk!r} ({'same pieces' if same else 'cut differently'})")
    entry = {"student": str(student_folder), "piece_chars": args.piece_chars, "chunks": len(rows),
             "bytes": total_bytes, "bits_per_byte": {k: round(v, 4) for k, v in bits.items()},
             "gap_nats": round(gap, 1), "short_nats": round(shortfall, 1), "ahead_nats": round(ahead, 1),
             "groups": table, "words_cut_differently_first_piece": prefix,
             "worst": [{"chunk": c, "same_pieces": s, "short_nats": round(t - u, 2)} for c, s, t, u, _, _, _ in worst]}
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    results[args.label or student_folder.name] = entry
    write_results(RESULTS, results, indent=2)


if __name__ == "__main__":
    main()
