"""Distilling a transplanted model from its original: the training loop, resumable exactly.

Each step takes `batch_size` texts from the seeded stream (`texts`), scores them with the teacher (no
gradients) and the student, and lowers the chosen loss: ALM on aligned chunks, the student's plain
next-token loss (the baseline), the teacher's hidden states at chunk ends, or a sum of these. What is trained is the student's new embedding rows (the rows
no teacher token had), all its embedding rows, or the whole network. The stream, the optimizer's
moments and the step count are all a resumed run needs to take the steps an uninterrupted run would
have taken, so resuming gives the same weights bit for bit (same device and thread count).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokwork.allocator import reuse_freed_memory
from tokwork.corpus import corpus_list, expand_corpus_paths
from tokwork.errors import ParameterError
from tokwork.outputs import check_output_directory
from tokwork.progress import loss_progress
from tokwork.transplant.activation_checkpoints import evaluating, recompute_activations
from tokwork.transplant.align import align_vocabularies
from tokwork.transplant.checkpoint import MODEL_KINDS, Checkpoint, load_checkpoint
from tokwork.transplant.devices import (
    joined_precision,
    pick_device,
    precision_of,
    training_adam,
    training_autocast,
    use_training_attention,
    uses_bfloat16,
)
from tokwork.transplant.distill.balance import balanced_weights, output_layer_input
from tokwork.transplant.distill.config import REPLAN_EVERY, DistillConfig
from tokwork.transplant.distill.first_pieces import first_piece_groups, group_logprobs
from tokwork.transplant.distill.head_logprobs import block_token_logprobs, reads_by_block
from tokwork.transplant.distill.heldout import (
    HeldoutTrack,
    pooled_bits_per_byte,
    short_note,
    start_track,
    texts_digest,
)
from tokwork.transplant.distill.losses import (
    alm_loss,
    chunk_last_targets,
    chunk_logprobs,
    group_kl,
    latent_loss,
    lm_loss,
    side_loss,
    token_logprobs,
)
from tokwork.transplant.distill.packing import packed_attention_mask
from tokwork.transplant.distill.shared_tokens import shared_token_ids
from tokwork.transplant.distill.state import (
    BEST_KIND,
    DistillCard,
    DistillError,
    is_distill_folder,
    load_optimizer_state,
    read_distill_card,
    save_distilled,
)
from tokwork.transplant.distill.texts import Batch, make_batch, training_texts
from tokwork.transplant.segment_attention import NAME as SEGMENTS
from tokwork.transplant.segment_attention import segment_lengths, use_segment_attention


def check_rows(checkpoint: Checkpoint, role: str) -> None:
    """Refuse a model with fewer embedding rows than its tokenizer has tokens (that it is a causal LM,
    `load_checkpoint` has checked)."""
    rows = checkpoint.input_embeddings().shape[0]
    if rows < checkpoint.tokenizer.vocab_size:
        raise DistillError(f"the {role} '{checkpoint.path}' has {rows:,} embedding rows but its tokenizer has "
                           f"{checkpoint.tokenizer.vocab_size:,} tokens; they do not belong together")


def teacher_ids_of(teacher: Checkpoint, student: Checkpoint) -> np.ndarray:
    """For each student id, the teacher id with the same bytes (specials: the same role), or -1."""
    return align_vocabularies(teacher.tokenizer, student.tokenizer,
                              source_rows=teacher.input_embeddings().shape[0]).source_ids


def new_row_ids(teacher: Checkpoint, student: Checkpoint) -> np.ndarray:
    """Student ids whose bytes no teacher token has: the rows a transplant had to make up."""
    return np.flatnonzero(teacher_ids_of(teacher, student) < 0)


def embedding_weights(model) -> list[torch.nn.Parameter]:
    """The model's input embedding matrix and its output one, once where the two are tied."""
    heads = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not heads[0]:
        heads.append(output.weight)
    return heads


def trainable_parameters(model, train: str, new_ids: np.ndarray) -> list[torch.nn.Parameter]:
    """Switch gradients on for what `train` names; for new rows, a hook keeps every other row's gradient 0."""
    for parameter in model.parameters():
        parameter.requires_grad_(train == "all")
    if train == "all":
        return [p for p in model.parameters() if p.requires_grad]
    heads = embedding_weights(model)
    for weight in heads:
        weight.requires_grad_(True)
        if train == "new-rows":
            mask = torch.zeros(weight.shape[0], 1, device=weight.device)
            mask[torch.from_numpy(new_ids).to(weight.device)] = 1.0
            weight.register_hook(lambda grad, mask=mask: grad * mask)
    return heads


def space_token_mask(tokenizer, rows: int) -> torch.Tensor:
    """Which of a model's `rows` output rows are tokens whose bytes start with a space."""
    pieces = tokenizer.byte_view.pieces(range(min(rows, tokenizer.vocab_size)))
    mask = torch.zeros(rows, dtype=torch.bool)
    mask[: len(pieces)] = torch.tensor([piece is not None and piece[:1] == b" " for piece in pieces], dtype=torch.bool)
    return mask


def _scored_chunks(model, side, batch: Batch, *, bf16: bool, latent_layers: str | None = None,
                   space_mask: torch.Tensor | None = None, shared_ids: torch.Tensor | None = None,
                   groups: tuple[torch.Tensor, int] | None = None, whole_logits: bool = False,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per-token log-probabilities of one side, their sums per aligned chunk (the dummy chunk dropped),
    with `latent_layers` the hidden states at each chunk's last token, shape (layers, chunks, width), and
    with `shared_ids` the log-probability of each of those tokens coming after each chunk, (chunks, ids),
    or with `groups` (each output row's group, the number of groups) that of each group, (chunks, groups).
    With `space_mask`, each chunk's sum also holds the log-probability that the next token starts with a
    space (`alm_chunks="space"`: the chunk's bytes followed by a space, the same event for both models).

    The model runs in bfloat16 autocast when `bf16` and the device is fast at it (`tokwork.transplant.devices`); weights,
    log-probabilities and sums stay float32. A batch with more logits than `head_logprobs.MAX_LOGITS` reads
    its output layer a block of positions at a time, unless `whole_logits` (the gradient balance hooks it).
    """
    device = side.ids.device
    packed = {}
    per_text = getattr(model.config, "_attn_implementation", None) == SEGMENTS
    if side.segments is not None and side.ids.shape[0] == 1 and per_text:  # one row, each text attended alone
        packed = {"position_ids": side.positions, "segment_lengths": segment_lengths(side.segments)}
    elif side.segments is not None:  # several texts a row: each attends to itself, from position 0
        packed = {"position_ids": side.positions, "attention_mask": packed_attention_mask(side.segments, model.dtype)}
    by_block = reads_by_block(model, side.ids, whole_logits=whole_logits)
    with training_autocast(bf16, device):
        if by_block:  # the decoder alone; the output layer read a block of positions at a time
            output = model.get_decoder()(side.ids, use_cache=False, output_hidden_states=latent_layers is not None,
                                         **packed)
            weight = model.get_output_embeddings().weight
            compute = torch.bfloat16 if uses_bfloat16(bf16, device) else weight.dtype
            logprobs = block_token_logprobs(output.last_hidden_state, weight, side.ids, compute=compute)
        else:
            output = model(side.ids, use_cache=False, output_hidden_states=latent_layers is not None, **packed)
    if not by_block:
        logprobs = token_logprobs(output.logits, side.ids)
    sums = chunk_logprobs((logprobs * side.mask).reshape(-1), side.chunks, batch.chunks + 1)[:-1]
    states = next_shared = None
    next_wanted = shared_ids is not None or groups is not None
    if latent_layers is not None or space_mask is not None or next_wanted:
        last = chunk_last_targets(side.chunks, batch.chunks).clamp(min=0)
        targets = side.ids.shape[1] - 1  # target t of a row is token t + 1: each chunk's last token is at
        row, position = last // targets, last % targets + 1  # this row and position, which has read the chunk
    if space_mask is not None or next_wanted:  # what the model expects after each chunk
        if by_block:
            with training_autocast(bf16, device):
                after = (output.last_hidden_state[row, position].to(compute) @ weight.to(compute).T).float()
        else:
            after = output.logits[row, position].float()
        normaliser = torch.logsumexp(after, -1, keepdim=True)
    if shared_ids is not None:  # log-probability of each shared token coming next
        next_shared = after.index_select(1, shared_ids) - normaliser
    elif groups is not None:
        next_shared = group_logprobs(after, *groups)
    if space_mask is not None:
        sums = sums + (torch.logsumexp(after[:, space_mask], -1, keepdim=True) - normaliser).squeeze(-1)
    if latent_layers is not None:
        layers = output.hidden_states[-1:] if latent_layers == "last" else output.hidden_states[1:]
        states = torch.stack([h[row, position] for h in layers])
    return logprobs, sums, states, next_shared


class Distiller:
    """One run: the frozen teacher, the student, its optimizer, and the stream of texts."""

    def __init__(self, teacher: Checkpoint, student: Checkpoint, config: DistillConfig, device: torch.device,
                 new_ids: np.ndarray, corpus: Sequence[Path]):
        self.config, self.device = config, device
        self.shared_ids = (None, None)
        self.groups: tuple[tuple[torch.Tensor, int] | None, ...] = (None, None)
        side = "side" in config.loss.split("+")
        rows = tuple(c.model.get_output_embeddings().weight.shape[0] for c in (teacher, student)) if side else None
        if side and config.side_outcomes == "first-pieces":
            teacher_groups, student_groups, count = first_piece_groups(teacher.tokenizer, student.tokenizer, rows)
            self.groups = ((teacher_groups.to(device), count), (student_groups.to(device), count))
        elif side:
            self.shared_ids = tuple(ids.to(device) for ids in shared_token_ids(
                teacher.tokenizer.byte_view, student.tokenizer.byte_view, teacher_ids_of(teacher, student), rows))
            if not len(self.shared_ids[0]):
                raise DistillError("the teacher's and the student's vocabularies share no token that both extend "
                                   "alike, so the side part has nothing to compare; drop it from --loss")
        self.teacher = teacher.model.to(device).eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.student = student.model.to(device).eval()  # no dropout: the student is fit, not regularised
        if config.checkpoint_activations:
            recompute_activations(self.student, role="student")
        for model in (self.teacher, self.student):  # both alike: the same model scores the same as both
            use_training_attention(model, device)
        # one row a batch, each text attended alone, where both models take it (`segment_attention.py`)
        self.one_row = (config.pack and config.segment_attention
                        and all([use_segment_attention(model) for model in (self.teacher, self.student)]))
        self.teacher_tokenizer, self.student_tokenizer = teacher.tokenizer, student.tokenizer
        self.parameters = trainable_parameters(self.student, config.train, new_ids)
        self.new_rows = (torch.from_numpy(new_ids).to(device)
                         if config.new_rows_rate != 1.0 and config.train != "new-rows" and len(new_ids) else None)
        self.embeddings = embedding_weights(self.student)  # where the new rows live
        self.optimizer = training_adam(self.parameters, config.peak_learning_rate)
        self.texts = training_texts(corpus, text_chars=config.text_chars, seed=config.seed,
                                    text_field=config.text_field)
        self.output_input: torch.Tensor | None = None  # the student's last hidden state, for `balance`
        self.space_masks = (None, None)
        if config.alm_chunks == "space":
            self.space_masks = tuple(
                space_token_mask(tokenizer, model.get_output_embeddings().weight.shape[0]).to(device)
                for tokenizer, model in ((teacher.tokenizer, self.teacher), (student.tokenizer, self.student)))

    def skip(self, steps: int) -> None:
        """Replay the text stream past `steps` finished steps (for a resumed run)."""
        for _ in range(steps * self.config.batch_size):
            next(self.texts)

    def batch(self, texts: list[str]) -> Batch:
        """`texts` as both models see them, with the chunks this run's ALM compares, on the run's device."""
        return make_batch(texts, self.teacher_tokenizer, self.student_tokenizer,
                          space_chunks=self.config.alm_chunks == "space", pack=self.config.pack,
                          one_row=self.one_row).to(self.device)

    def losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The step's loss parts, with gradients into the student."""
        config = self.config
        wanted = config.loss.split("+")
        layers = config.latent_layers if "latents" in wanted else None
        with_teacher = "alm" in wanted or "side" in wanted or layers is not None
        parts: dict[str, torch.Tensor] = {}
        if with_teacher and not bool(batch.valid.any()):
            raise DistillError("no aligned chunk of this batch's texts can be compared"
                               + (" (no chunk ends before a space; use --alm-chunks token for text written "
                                  "without spaces)" if config.alm_chunks == "space" else ""))
        if with_teacher:
            with torch.inference_mode():
                _, teacher_chunks, teacher_states, teacher_next = _scored_chunks(
                    self.teacher, batch.teacher, batch, bf16=config.bf16, latent_layers=layers,
                    space_mask=self.space_masks[0] if "alm" in wanted else None, shared_ids=self.shared_ids[0],
                    groups=self.groups[0])
            teacher_chunks = teacher_chunks.clone()  # ordinary tensors, usable in the student's graph
            teacher_states = teacher_states.clone() if layers else None
            teacher_next = teacher_next.clone() if teacher_next is not None else None
        watch = output_layer_input(self.student) if config.balance == "gradient" else nullcontext([])
        with watch as seen:
            logprobs, student_chunks, student_states, student_next = _scored_chunks(
                self.student, batch.student, batch, bf16=config.bf16, latent_layers=layers,
                space_mask=self.space_masks[1] if "alm" in wanted else None, shared_ids=self.shared_ids[1],
                groups=self.groups[1], whole_logits=config.balance == "gradient")
        self.output_input = seen[-1] if seen else None
        if "alm" in wanted:
            parts["alm"] = alm_loss(teacher_chunks[batch.valid], student_chunks[batch.valid],
                                    temperature=config.temperature, diff=config.alm_diff)
        if layers:
            parts["latents"] = latent_loss(teacher_states[:, batch.valid], student_states[:, batch.valid])
        if "side" in wanted:
            compare = group_kl if config.side_outcomes == "first-pieces" else side_loss
            parts["side"] = compare(teacher_next[batch.valid], student_next[batch.valid])
        if "lm" in wanted:
            parts["lm"] = lm_loss(logprobs, batch.student.mask)
        return parts

    def step(self, step: int) -> dict[str, float]:
        """Take training step `step`; return its loss parts."""
        config = self.config
        texts = [next(self.texts) for _ in range(config.batch_size)]
        batch = self.batch(texts)
        parts = self.losses(batch)
        alone = len(parts) == 1
        if config.balance == "gradient" and not alone:
            weights = balanced_weights(parts, self.output_input)
        else:
            weights = {"alm": 1.0, "lm": 1.0 if alone else config.lm_weight,
                       "latents": 1.0 if alone else config.latent_weight,
                       "side": 1.0 if alone else config.side_weight}
        self.output_input = None
        total = sum(weights[name] * value for name, value in parts.items())
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate_at(step)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self._optimizer_step()
        self.optimizer.zero_grad(set_to_none=True)
        return {name: float(value.detach()) for name, value in parts.items()}

    def _optimizer_step(self) -> None:
        """Adam's step; the new rows' moves scaled by `new_rows_rate` (Adam has no weight decay here, so
        this is the step at that multiple of the learning rate for those rows)."""
        if self.new_rows is None:
            self.optimizer.step()
            return
        before = [w.detach()[self.new_rows].clone() for w in self.embeddings]
        self.optimizer.step()
        with torch.no_grad():
            for weight, old in zip(self.embeddings, before, strict=True):
                moved = weight[self.new_rows] - old
                weight[self.new_rows] = old + self.config.new_rows_rate * moved


def _new_card(teacher: Path, student: Path, corpus: list[Path], config: DistillConfig, new_rows: int,
              trained: int, device: torch.device) -> DistillCard:
    return DistillCard(teacher=str(teacher), student=str(student), corpus=[str(p) for p in corpus],
                       training=config.as_card(), new_rows=new_rows, trained_parameters=trained,
                       device=device.type, threads=torch.get_num_threads())


def distill(teacher: str | Path, student: str | Path, corpus: Sequence[str | Path], output: str | Path, *,
            config: DistillConfig | None = None, max_seconds: float | None = None,
            stop_after: int | None = None, fresh: bool = False, force: bool = False,
            device: str | None = "auto", progress: bool = True,
            on_checkpoint: Callable[[int, Path], None] | None = None,
            transplant: dict[str, Any] | None = None, heldout: dict[str, str] | None = None,
            eval_every: int | None = None, best_output: str | Path | None = None) -> DistillCard:
    """Distill the transplanted `student` from the original `teacher` on `corpus`; write it to `output`.

    The result is a plain HF folder. An `output` that already holds a distillation run is resumed up to
    `config.steps` with its saved settings (only the step count is taken from `config`; for a run whose
    steps its time budget planned, and a `config` with a budget, the planned count), unless `fresh`.
    With `max_seconds`, training stops (with a checkpoint) after the step that uses up that much time; with
    `stop_after`, after that step, still on the schedule planned over `config.steps` (to look at a linear
    schedule's run part way; the same call with a later `stop_after` goes on exactly). A new run whose config
    has `budget_minutes` fixes its `steps` after the warm-up from the steps' pace (`DistillConfig.plan_steps`).
    `on_checkpoint(step, output)` is called after each checkpoint is written. `transplant` (how the student
    was made, when it is an intermediate) goes into a new run's card. With `heldout` (name -> text, never
    trained on) the teacher is scored once and the student at the start and every `eval_every` steps (by
    default at each checkpoint) and after the last, in bits per byte, into the card (`heldout.py`); that
    scoring is not counted in the run's time nor in `max_seconds`. With `best_output` as well, the student
    of the lowest score so far is also written there (a plain HF folder whose card says which step it is),
    while `output` stays the last step, from which a run resumes. Returns the final card.
    """
    config = copy.deepcopy(config) if config is not None else DistillConfig()  # plans change it: not the caller's
    config.validate()
    if eval_every is not None and eval_every <= 0:
        raise ParameterError(f"steps between held-out scores must be positive, not {eval_every}")
    if heldout is not None and not heldout:
        raise ParameterError("no held-out text given to score")
    if best_output is not None:
        if not heldout:
            raise ParameterError("keeping the best student needs held-out text to score it on")
        best, last = Path(best_output).resolve(), Path(output).resolve()
        if best == last or last in best.parents or best in last.parents:
            raise ParameterError(f"the best student's folder '{best_output}' must lie apart from the output "
                                 f"folder '{output}' (not the same, not one inside the other): that holds the last "
                                 "step to resume from")
        check_output_directory(best_output, force=force, kinds=MODEL_KINDS,
                               inputs=[teacher, student, *corpus_list(corpus)])
    if max_seconds is not None and max_seconds <= 0:
        raise ParameterError(f"the time budget must be positive, not {max_seconds} seconds")
    if stop_after is not None and stop_after <= 0:
        raise ParameterError(f"the step to stop after must be positive, not {stop_after}")
    chosen = pick_device(device)  # before any model is loaded
    output = Path(output)
    resume = not fresh and is_distill_folder(output)
    card = read_distill_card(output) if resume else None
    # a resumed run writes its folder anew too: the same checks (its student is that folder, no input)
    check_output_directory(output, force=force or fresh, kinds=MODEL_KINDS,
                           inputs=[teacher, *corpus_list(corpus), *([] if resume else [student])])
    corpus_paths = expand_corpus_paths(corpus)
    teacher_checkpoint = load_checkpoint(teacher, role="teacher", why="; distillation needs two causal LMs")
    check_rows(teacher_checkpoint, "teacher")
    student_checkpoint = load_checkpoint(output if resume else student, role="student",
                                         why="; distillation needs two causal LMs")
    check_rows(student_checkpoint, "student")
    if card is not None:
        steps = config.steps
        if config.budget_minutes is not None and card.training.get("planned_at") is not None:
            steps = min(steps, card.training["steps"])  # planned by its budget: on to the planned end
        # recomputing activations changes no number, so a resumed run takes it from the caller
        config = DistillConfig.from_json({**card.training, "steps": steps,
                                          "checkpoint_activations": config.checkpoint_activations})
    new_ids = new_row_ids(teacher_checkpoint, student_checkpoint)
    if config.train == "new-rows" and not len(new_ids):
        raise DistillError(f"the student '{student}' has no new rows (every token is one of the teacher's); "
                           "use --train embeddings or --train all")
    torch.manual_seed(config.seed)
    distiller = Distiller(teacher_checkpoint, student_checkpoint, config, chosen, new_ids, corpus_paths)
    if card is None:
        trained = sum(p.numel() for p in distiller.parameters)
        if config.train == "new-rows":  # the other rows' gradients are held at 0: they do not change
            trained = sum(len(new_ids) * p.shape[1] for p in distiller.parameters)
        card = _new_card(Path(teacher), Path(student), corpus_paths, config, len(new_ids), trained, chosen)
        if transplant is not None:
            card.transplant = transplant
            card.student = f"{transplant['source']} transplanted onto {transplant['target']} ({transplant['method']})"
    else:
        load_optimizer_state(output, distiller.optimizer)
        distiller.skip(card.step)
    card.training = config.as_card()
    card.precision = joined_precision(card.precision, precision_of(config.bf16, chosen))
    tokenizer_folder = output if resume else Path(student)
    scorer = None
    if heldout:
        best = (Path(best_output), tokenizer_folder) if best_output is not None else None
        scorer = _HeldoutScorer(distiller, card, heldout, eval_every or config.save_every, best)
    return _train(distiller, card, output, tokenizer_folder, max_seconds, stop_after, progress, on_checkpoint,
                  scorer)


class _HeldoutScorer:
    """Scores the student on held-out text for `_train`, keeping the time it takes out of the run's."""

    def __init__(self, distiller: Distiller, card: DistillCard, texts: dict[str, str], every: int,
                 best: tuple[Path, Path] | None = None):
        self.distiller, self.card, self.texts, self.every = distiller, card, texts, every
        self.best = best  # (folder for the best student, folder its tokenizer files come from), or None
        self.wall = self.cpu = 0.0
        self.track = HeldoutTrack.from_json(card.heldout)
        if self.track is None or self.track.digest != texts_digest(texts):  # new, or other texts than before
            with self._timed():
                self.track = start_track(distiller.teacher, distiller.teacher_tokenizer, texts)
            self.score(card.step)

    @contextmanager
    def _timed(self):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu

    def due(self, step: int, last: bool) -> bool:
        return last or step % self.every == 0

    def score(self, step: int) -> str:
        """Score the student after `step` steps, record it in the card and return it as a short note."""
        with self._timed(), evaluating(self.distiller.student):
            bits = pooled_bits_per_byte(self.distiller.student, self.distiller.student_tokenizer, self.texts)
        score = self.track.add(step, bits)
        self.card.heldout = self.track.as_json()
        if self.best is not None and self.track.best is score:
            folder, tokenizer_folder = self.best
            with self._timed():
                save_distilled(folder, self.distiller.student, tokenizer_folder,
                               replace(self.card, step=step, history=list(self.card.history), kind=BEST_KIND), None)
        return short_note(score)


def replan_due(config: DistillConfig, done: int, timed: int, max_seconds: float | None) -> bool:
    """Whether a time-planned run looks at its pace again after `done` steps, `timed` of them in this
    process (the first of which paid one-time costs). Only a process that runs under the budget
    (`max_seconds`) re-plans: one resumed without it finishes the steps planned before."""
    return (max_seconds is not None and config.budget_minutes is not None and config.planned_at is not None
            and done > config.planned_at and done % REPLAN_EVERY == 0 and timed > REPLAN_EVERY)


def _train(distiller: Distiller, card: DistillCard, output: Path, tokenizer_folder: Path,
           max_seconds: float | None, stop_after: int | None, progress: bool, on_checkpoint,
           scorer: _HeldoutScorer | None = None) -> DistillCard:
    config = distiller.config
    end = min(config.steps, stop_after or config.steps)
    started, cpu_started = time.perf_counter(), time.process_time()
    seconds_before, cpu_before = card.seconds, card.cpu_seconds
    recent: list[dict[str, float]] = []
    durations: list[float] = []  # wall seconds of this process's steps, for a time-budgeted plan
    scored = [scorer.wall, scorer.cpu] if scorer is not None else [0.0, 0.0]  # taken before `started`
    # every step allocates and frees the same buffers: keep them in the process (`tokwork.allocator`)
    with reuse_freed_memory(), loss_progress(f"distill ({config.loss})", config.steps, card.step,
                                             enabled=progress) as update:
        step = card.step
        while step < end:
            before = time.perf_counter()
            parts = distiller.step(step)
            durations.append(time.perf_counter() - before)
            recent.append(parts)
            step = done = step + 1
            elapsed = time.perf_counter() - started - (scorer.wall - scored[0] if scorer else 0.0)
            out_of_time = max_seconds is not None and elapsed >= max_seconds
            planned = config.awaits_plan and (done >= config.plan_step or out_of_time)
            if planned:
                if done >= config.plan_step:
                    # the median step after the process's first (which pays one-time costs) sets the pace
                    end = min(config.plan_steps(done, float(np.median(durations[1:] or durations)),
                                                seconds_before + elapsed), stop_after or config.steps)
                else:  # the budget ran out within the warm-up: the run ends here
                    config.end_plan(done)
                card.training = config.as_card()
            elif replan_due(config, done, len(durations), max_seconds) and config.replan(
                    done, float(np.median(durations[-REPLAN_EVERY:])), seconds_before + elapsed):
                end = min(config.steps, stop_after or config.steps)
                card.training = config.as_card()
                planned = True  # the progress bar's total moves with it
            last = done == end or out_of_time
            note = scorer.score(done) if scorer is not None and scorer.due(done, last) else None
            update(done, sum(parts.values()), note, total=config.steps if planned else None)
            if done % config.log_every == 0 or last:
                means = {k: round(float(np.mean([r[k] for r in recent])), 5) for k in recent[0]}
                card.history.append({"step": done, **means, "seconds": round(seconds_before + elapsed, 1)})
                recent = []
            if done % config.save_every == 0 or last:
                card.step = done
                card.seconds = round(seconds_before + elapsed, 3)
                card.cpu_seconds = round(cpu_before + time.process_time() - cpu_started
                                         - (scorer.cpu - scored[1] if scorer else 0.0), 3)
                save_distilled(output, distiller.student, tokenizer_folder, card, distiller.optimizer)
                tokenizer_folder = output
                if on_checkpoint is not None:
                    on_checkpoint(done, output)
            if last:
                break
    return card
