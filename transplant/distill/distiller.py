"""One distillation step: the frozen teacher and the student score the same texts, and the student moves.

`Distiller` holds a run's models, optimizer and text stream; `scored_chunks` gives one side's per-token and
per-chunk log-probabilities (and what the side losses compare) for a batch. The loop that takes steps,
checkpoints and keeps to a time budget is `training.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from tokwork.transplant.activation_checkpoints import recompute_activations
from tokwork.transplant.align import align_vocabularies
from tokwork.transplant.checkpoint import Checkpoint
from tokwork.transplant.devices import (
    training_adam,
    training_autocast,
    use_training_attention,
    uses_bfloat16,
)
from tokwork.transplant.distill.balance import balanced_weights, output_layer_input
from tokwork.transplant.distill.config import DistillConfig
from tokwork.transplant.distill.first_pieces import first_piece_groups, group_logprobs
from tokwork.transplant.distill.head_logprobs import block_token_logprobs, reads_by_block
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
    DistillError,
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


def scored_chunks(model, side, batch: Batch, *, bf16: bool, latent_layers: str | None = None,
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
                _, teacher_chunks, teacher_states, teacher_next = scored_chunks(
                    self.teacher, batch.teacher, batch, bf16=config.bf16, latent_layers=layers,
                    space_mask=self.space_masks[0] if "alm" in wanted else None, shared_ids=self.shared_ids[0],
                    groups=self.groups[0])
            teacher_chunks = teacher_chunks.clone()  # ordinary tensors, usable in the student's graph
            teacher_states = teacher_states.clone() if layers else None
            teacher_next = teacher_next.clone() if teacher_next is not None else None
        watch = output_layer_input(self.student) if config.balance == "gradient" else nullcontext([])
        with watch as seen:
            logprobs, student_chunks, student_states, student_next = scored_chunks(
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
