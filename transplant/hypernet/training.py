"""Training the hypernetwork against a frozen source model: warm-up, then language modelling with sampled tokenizers.

After Minixhofer et al. 2024, "Zero-Shot Tokenizer Transfer". The first `warmup_steps` teach the network
the source vocabulary: a source token read as itself must give its own row (identity), and read as the
two tokens its merge joins must give it too (MIMICK-style). Every later step samples a tokenizer (a new
one every `steps_per_tokenizer` steps), cuts text windows with it, builds the step's embedding matrices
(shared tokens keep the source rows, new tokens get predicted rows) and minimises the frozen model's
next-token loss over that vocabulary, plus `aux_weight` times the warm-up loss so the source vocabulary
is not forgotten. Only the hypernetwork learns; gradients reach it through both the rows the model reads
and the rows it predicts with.

Every draw comes from a generator seeded by (seed, step), so a run resumed from its last checkpoint
makes exactly the steps an uninterrupted run would have made (the sampled tokenizers are reproducible
too, see `sampling`). The model runs in bfloat16 autocast where that is faster (a GPU, a CPU with
bfloat16 units: `tokwork.transplant.devices`; the hypernetwork's weights and the loss stay float32),
on the GPU when there is one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call

from tokwork.card import recorded_path
from tokwork.corpus import corpus_list
from tokwork.errors import ParameterError
from tokwork.outputs import check_output_directory, output_lock
from tokwork.progress import loss_progress
from tokwork.setting_types import check_setting_types
from tokwork.stop_request import stop_after_checkpoint, stop_between_steps
from tokwork.transplant.checkpoint import load_checkpoint
from tokwork.transplant.devices import (
    joined_precision,
    pick_device,
    precision_of,
    training_autocast,
    use_training_attention,
)
from tokwork.transplant.hypernet.checkpoint import (
    KIND,
    HypernetCard,
    HypernetError,
    SourceInfo,
    is_hypernet_folder,
    load_hypernet,
    load_optimizer,
    read_hypernet_card,
    save_hypernet,
)
from tokwork.transplant.hypernet.model import HypernetConfig, Hypernetwork, pad_pieces
from tokwork.transplant.hypernet.sampling import (
    SampledVocabulary,
    StepVocabulary,
    TokenizerDraw,
    TrainingText,
    mimick_pieces,
    sample_tokenizer,
    source_splits,
)


@dataclass
class TrainingConfig:
    """Settings of a hypernetwork training run; saved in the card and round-tripped through JSON."""

    steps: int = 1000
    warmup_steps: int = 100  # identity and MIMICK steps before the language-modelling ones
    batch_size: int = 4
    sequence_length: int = 128
    new_tokens: int = 2048  # new tokens in a step's vocabulary (all that occur, the rest sampled)
    aux_tokens: int = 256  # source tokens in the auxiliary loss of a language-modelling step
    warmup_tokens: int = 2048  # source tokens per warm-up step
    aux_weight: float = 0.5
    learning_rate: float = 1e-3  # peak of the warm-up phase
    lm_learning_rate: float = 3e-4  # peak of the language-modelling phase
    weight_decay: float = 0.01
    steps_per_tokenizer: int = 4
    seed: int = 0
    save_every: int = 100
    log_every: int = 10
    max_corpus_bytes: int = 256 << 20
    bf16: bool = True
    slice_bytes: tuple[int, int] = (1_000_000, 3_000_000)
    vocab_sizes: tuple[int, int] = (8_000, 48_000)
    splits: tuple[str, ...] = ("gpt2", "cl100k", "o200k")
    unigram_share: float = 0.25
    score_noise: float = 1.0
    text_field: str = "text"  # the field holding the text in .jsonl records of the corpus

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot train (steps and sizes must be positive)."""
        check_setting_types(self)
        if not 0 <= self.seed < 1 << 63:
            raise ParameterError(f"seed {self.seed} must lie in [0, 2**63 - 1]")
        if self.steps <= 0:
            raise ParameterError(f"steps must be a positive number of training steps, not {self.steps}")
        if self.warmup_steps < 0:
            raise ParameterError(f"warm-up steps must be 0 or more, not {self.warmup_steps}")
        positive = ("batch_size", "sequence_length", "new_tokens", "aux_tokens", "warmup_tokens", "learning_rate",
                    "lm_learning_rate", "steps_per_tokenizer", "save_every", "log_every", "max_corpus_bytes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name.replace('_', ' ')} must be positive, not {getattr(self, name)}")
        if self.sequence_length < 2:  # a window of one token has no next token to predict
            raise ParameterError(f"sequence length {self.sequence_length} must be at least 2 tokens")
        if self.aux_weight < 0 or not 0 <= self.unigram_share <= 1:
            raise ParameterError("aux weight must be 0 or more and the unigram share lie in [0, 1]")
        if len(self.vocab_sizes) != 2 or len(self.slice_bytes) != 2:
            raise ParameterError(f"vocab sizes {self.vocab_sizes} and slice bytes {self.slice_bytes} must each be "
                                 "a range of two numbers (lowest, highest)")
        if min(self.vocab_sizes) < 300 or self.vocab_sizes[0] > self.vocab_sizes[1]:
            raise ParameterError(f"vocab sizes {self.vocab_sizes} must be a range of at least 300 tokens")
        if min(self.slice_bytes) <= 0 or self.slice_bytes[0] > self.slice_bytes[1]:
            raise ParameterError(f"slice bytes {self.slice_bytes} must be a range of positive sizes")

    @property
    def draw(self) -> TokenizerDraw:
        """The settings of the tokenizers sampled for each step, as `TokenizerDraw` takes them."""
        return TokenizerDraw(slice_bytes=tuple(self.slice_bytes), vocab_sizes=tuple(self.vocab_sizes),
                             splits=tuple(self.splits), unigram_share=self.unigram_share,
                             score_noise=self.score_noise)

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)


def learning_rate(config: TrainingConfig, step: int) -> float:
    """Per phase (warm-up, then language modelling): a linear ramp over its first 5% of steps, then cosine
    decay to a tenth at its last step; the language-modelling phase peaks at `lm_learning_rate`."""
    warmup = min(config.warmup_steps, config.steps)
    if step < warmup:
        peak, start, length = config.learning_rate, 0, warmup
    else:
        peak, start, length = config.lm_learning_rate, warmup, config.steps - warmup
    ramp = max(1, length // 20)
    into = step - start
    if into < ramp:
        return peak * (into + 1) / ramp
    progress = (into - ramp) / max(1, length - ramp)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Trainer:
    """One training run: the frozen source model, its matrices, the hypernetwork and what it is shown."""

    def __init__(self, checkpoint, text: TrainingText, hypernet: Hypernetwork, config: TrainingConfig,
                 device: torch.device):
        self.config, self.device, self.text, self.hypernet = config, device, text, hypernet
        self.model = checkpoint.model.to(device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        use_training_attention(self.model, device)
        self.source = checkpoint.tokenizer
        inputs = checkpoint.input_embeddings()
        outputs = checkpoint.output_embeddings()
        self.matrices = [m.to(device) for m in ([inputs] if outputs is None else [inputs, outputs])]
        heads = [self.model.get_input_embeddings(), self.model.get_output_embeddings()][: len(self.matrices)]
        names = {id(p): n for n, p in self.model.named_parameters(remove_duplicate=False)}
        self.names = [names[id(module.weight)] for module in heads]
        vocab = self.source.vocab_size
        self.fallbacks = [m[:vocab].mean(dim=0) for m in self.matrices]
        self.scales = [float(m[:vocab].pow(2).sum(dim=1).mean()) for m in self.matrices]
        view = self.source.byte_view
        self.identity_ids = np.array([i for i in range(min(vocab, len(inputs))) if view[i] is not None])
        self.splits = source_splits(self.source, rows=len(inputs))
        self.split_ids = np.array(sorted(self.splits), dtype=np.int64)
        self.rows = len(inputs)
        self._vocabulary: tuple[int, SampledVocabulary] | None = None

    def autocast(self):
        """The autocast context of the hypernetwork's forward (bfloat16 where the device is fast at it)."""
        return training_autocast(self.config.bf16, self.device)

    def vocabulary(self, index: int) -> SampledVocabulary:
        """The `index`-th sampled tokenizer (drawn from its own seed, so a resumed run gets the same one)."""
        if self._vocabulary is None or self._vocabulary[0] != index:
            rng = np.random.default_rng([self.config.seed, 1, index])
            tokenizer = sample_tokenizer(self.text, rng, self.config.draw)
            self._vocabulary = (index, SampledVocabulary(self.source, tokenizer, source_rows=self.rows))
        return self._vocabulary[1]

    def auxiliary_loss(self, rng: np.random.Generator, count: int) -> torch.Tensor:
        """Squared error (relative to the mean squared row norm) of predicted rows of source tokens, read
        as themselves (half) and as their split parts (half)."""
        half = count // 2 if len(self.split_ids) else count
        identity = rng.choice(self.identity_ids, size=half)
        split = rng.choice(self.split_ids, size=count - half) if len(self.split_ids) else np.zeros(0, np.int64)
        decompositions = [(int(t),) for t in identity] + [mimick_pieces(self.splits, int(t), rng) for t in split]
        targets = torch.from_numpy(np.concatenate([identity, split])).to(self.device)
        pieces = pad_pieces(decompositions, max_pieces=self.hypernet.config.max_pieces, device=self.device)
        with self.autocast():
            predicted = self.hypernet(pieces, self.matrices, self.fallbacks)
        errors = [(rows - m[targets]).pow(2).sum(dim=1).mean() / scale
                  for rows, m, scale in zip(predicted, self.matrices, self.scales, strict=True)]
        return sum(errors) / len(errors)

    def language_model_loss(self, step: StepVocabulary) -> torch.Tensor:
        """Next-token loss (nats) of the frozen model with the step's matrices: source rows, then predicted."""
        pieces = pad_pieces(step.new_decompositions, max_pieces=self.hypernet.config.max_pieces, device=self.device)
        shared = torch.from_numpy(step.shared_source_ids).to(self.device)
        ids = torch.from_numpy(step.ids).to(self.device)
        with self.autocast():
            predicted = self.hypernet(pieces, self.matrices, self.fallbacks)
            weights = {name: torch.cat([matrix[shared], rows])
                       for name, matrix, rows in zip(self.names, self.matrices, predicted, strict=True)}
            logits = functional_call(self.model, weights, (ids[:, :-1],), {"use_cache": False}).logits
        logits = logits.float() + torch.from_numpy(step.log_weights).to(self.device)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    def step(self, step: int) -> dict[str, float]:
        """The loss of training step `step` (gradients accumulated in the hypernetwork), by part."""
        config = self.config
        rng = np.random.default_rng([config.seed, 0, step])
        if step < config.warmup_steps:
            aux = self.auxiliary_loss(rng, config.warmup_tokens)
            aux.backward()
            return {"aux": float(aux.detach())}
        vocabulary = self.vocabulary((step - config.warmup_steps) // config.steps_per_tokenizer)
        windows = vocabulary.windows(self.text, rng, batch=config.batch_size, length=config.sequence_length)
        lm = self.language_model_loss(vocabulary.step(windows, rng, new_tokens=config.new_tokens))
        aux = self.auxiliary_loss(rng, config.aux_tokens)
        (lm + config.aux_weight * aux).backward()
        return {"lm": float(lm.detach()), "aux": float(aux.detach())}


def new_optimizer(hypernet: Hypernetwork, config: TrainingConfig) -> torch.optim.AdamW:
    """The run's optimizer: AdamW over the hypernetwork's parameters at the run's rate and weight decay."""
    return torch.optim.AdamW(hypernet.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


def train_step(trainer: Trainer, optimizer: torch.optim.Optimizer, step: int) -> dict[str, float]:
    """Take training step `step` (its scheduled rate, its loss's gradients clipped to norm 1, the update);
    returns the loss parts."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(trainer.config, step)
    parts = trainer.step(step)
    torch.nn.utils.clip_grad_norm_(trainer.hypernet.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return parts


def _new_card(source: Path, info: SourceInfo, shape: HypernetConfig, config: TrainingConfig,
              text: TrainingText) -> HypernetCard:
    return HypernetCard(model=shape.as_json(), training=config.as_json(), source=asdict(info),
                        source_path=recorded_path(source), corpus=text.files)


def _check_same_inputs(card: HypernetCard, source: str | Path, text: TrainingText, output: Path) -> None:
    """Refuse to resume a run with another corpus (by content) or another model of the same vocabulary
    (by where it is): the steps to come would not be the run's."""
    def fingerprints(files: list[dict]) -> list[str]:
        return [f.get("sha256") or Path(f["path"]).name for f in files]

    if fingerprints(card.corpus) != fingerprints(text.files):
        raise HypernetError(f"the hypernetwork in '{output}' was trained on {', '.join(f['path'] for f in card.corpus)}; "
                            "give the same corpus to resume it, or pass --fresh to start over on this one")
    recorded = Path(card.source_path)
    if recorded.is_absolute() and recorded.exists() and Path(source).exists() and recorded != Path(source).resolve():
        raise HypernetError(f"the hypernetwork in '{output}' was trained for the model '{recorded}', not '{source}' "
                            "(the same vocabulary and shape); resume with that one, or pass --fresh")


def train_hypernet(source: str | Path, corpus: Sequence[str | Path], output: str | Path, *,
                   config: TrainingConfig | None = None, shape: dict | None = None, fresh: bool = False,
                   force: bool = False, device: str | None = "auto", progress: bool = True,
                   max_seconds: float | None = None,
                   on_checkpoint: Callable[[int, Path], None] | None = None) -> HypernetCard:
    """Train (or resume) a hypernetwork for the model at `source` on `corpus`, checkpointing to `output`.

    An `output` that already holds a hypernetwork for this source is resumed up to `config.steps` with
    its saved settings (only the step count is taken from `config`), unless `fresh`. `shape` overrides
    the network's shape (width, layers, heads, max_pieces, residual). With `max_seconds`, training stops
    (with a checkpoint) after the step that uses up that much time; the learning-rate schedule stays the
    one of `config.steps`, so a later call resumes where it stopped. `on_checkpoint(step, output)` is
    called after each checkpoint is written. Returns the final card.
    """
    config = config or TrainingConfig()
    config.validate()
    if max_seconds is not None and max_seconds <= 0:
        raise ParameterError(f"the time budget must be positive, not {max_seconds} seconds")
    chosen = pick_device(device)  # before the corpus and the model are read
    output = Path(output)
    resume = not fresh and is_hypernet_folder(output)
    card = read_hypernet_card(output) if resume else None
    check_output_directory(output, force=force or fresh, kinds=(KIND,),  # resumed too
                           inputs=[source, *corpus_list(corpus)])
    text = TrainingText.read(corpus, max_bytes=config.max_corpus_bytes, text_field=config.text_field)
    checkpoint = load_checkpoint(source)
    info = SourceInfo.of(checkpoint.tokenizer, checkpoint.input_embeddings(), checkpoint.output_embeddings())
    if card is not None:
        card.source_info.check(info, folder=output, model=str(source))
        _check_same_inputs(card, source, text, output)
        config = TrainingConfig.from_json({**card.training, "steps": config.steps})
        hypernet_shape = card.config
    else:
        hypernet_shape = HypernetConfig(hidden_size=info.hidden_size, tied=info.tied, **(shape or {}))
        card = _new_card(Path(source), info, hypernet_shape, config, text)
    card.training = config.as_json()
    card.precision = joined_precision(card.precision, precision_of(config.bf16, chosen))
    torch.manual_seed(config.seed)
    hypernet = load_hypernet(output, device=chosen)[0] if resume else Hypernetwork(hypernet_shape).to(chosen)
    hypernet.train()
    optimizer = new_optimizer(hypernet, config)
    if resume:
        load_optimizer(output, optimizer)
    trainer = Trainer(checkpoint, text, hypernet, config, chosen)
    if not resume:
        hypernet.set_scales(trainer.matrices)
    started = time.perf_counter()
    seconds_before = card.seconds
    recent: list[dict[str, float]] = []
    stopped = None  # the signal that asked to stop after a step (`tokwork.stop_request`), once it has
    with output_lock(output), stop_between_steps() as stop_requested, loss_progress(
            "hypernet", config.steps, card.step, enabled=progress) as update:
        for step in range(card.step, config.steps):
            parts = train_step(trainer, optimizer, step)
            recent.append(parts)
            update(step + 1, parts.get("lm", parts["aux"]))
            done = step + 1
            elapsed = time.perf_counter() - started
            stopped = stop_requested()
            last = (done == config.steps or (max_seconds is not None and elapsed >= max_seconds)
                    or stopped is not None)
            if done % config.log_every == 0 or last:
                card.history.append({"step": done, **{k: round(float(np.mean([r[k] for r in recent if k in r])), 5)
                                                      for k in ("lm", "aux") if any(k in r for r in recent)},
                                     "seconds": round(seconds_before + elapsed, 1)})
                recent = []
            if done % config.save_every == 0 or last:
                card.step = done
                card.seconds = round(seconds_before + elapsed, 1)
                save_hypernet(output, hypernet, card, optimizer=optimizer)
                if on_checkpoint is not None:
                    on_checkpoint(done, output)
            if last:
                break
    if stopped is not None and card.step < config.steps:
        stop_after_checkpoint(stopped, card.step, output)
    return card
