"""Settings of a distillation run, saved in its card and round-tripped through JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from tokwork.errors import ParameterError
from tokwork.setting_types import check_setting_types

LOSS_PARTS = ("alm", "latents", "lm", "side")  # a loss is one part or several joined with "+": alm+lm, alm+side, ...
LATENT_LAYERS = ("last", "all")
ALM_CHUNKS = ("token", "space")
SIDE_OUTCOMES = ("shared", "first-pieces")  # what the side part compares (`losses.side_loss`, `losses.group_kl`)
# how ALM compares two chunk log-likelihoods (`losses.alm_loss`)
ALM_DIFFS = ("binary-kl", "shortfall", "hinge", "squared", "abs")
BALANCE = ("fixed", "gradient")  # how the parts of a summed loss are weighed (`balance.py`)
TRAINABLE = ("new-rows", "embeddings", "all")
SCHEDULES = ("constant", "linear")  # after the warm-up: the peak rate, or a straight fall to 0 at the last step
# Adam's step size per choice of what is trained: rows the transplant made up (SmolLM2's spread about 0.14)
# may move a long way from their initialisation, the whole network only a little (the usual fine-tuning
# rate). New rows: a 15-step look at 1e-3 against 3e-3 (3e-3 was worse). All embedding rows: 1e-3 and 1e-4
# made the model worse or no better within 71 steps, 3e-5 slightly better (benchmarks/distill.py).
LEARNING_RATES = {"new-rows": 1e-3, "embeddings": 3e-5, "all": 3e-5}
PLAN_AFTER_STEPS = 3  # a time-budgeted run fixes its step count no earlier than this (`DistillConfig.plan_step`)
REPLAN_EVERY = 10  # ... and looks at its pace again every this many steps after (`DistillConfig.replan`)
REPLAN_MARGIN = 0.01  # ... re-planning where the steps the time left buys differ by more than this share
# of the steps to go (and by more than one)
UNPLANNED_STEPS = 1_000_000  # the step count of a time-budgeted run before it is planned, when none is given


DEFAULT_STEPS = 200  # a new run's step count when neither steps nor minutes are given


def planned_minutes(schedule: str, steps: int | None, minutes: float | None) -> float | None:
    """The time budget a run plans its linear schedule by: its minutes, where the schedule is linear and
    no step count was given; else None (a constant schedule, or one planned over the given steps)."""
    return minutes if schedule == "linear" and steps is None else None


def run_length(steps: int | None, schedule: str, minutes: float | None) -> tuple[int, float | None]:
    """The step count and planning budget (`DistillConfig.steps`, `budget_minutes`) of a new run given
    `steps` and a time limit of `minutes` (either may be None): the steps asked for; without them, as many
    as the minutes buy (a constant schedule runs until they are spent, a linear one plans its fall by
    them); with neither, `DEFAULT_STEPS`."""
    if steps is not None:
        return steps, None
    if minutes is not None:
        return UNPLANNED_STEPS, planned_minutes(schedule, steps, minutes)
    return DEFAULT_STEPS, None


@dataclass
class DistillConfig:
    """What a distillation run does: which loss, what it trains, how long, on what batches."""

    loss: str = "alm+lm"
    train: str = "all"
    steps: int = DEFAULT_STEPS
    batch_size: int = 8
    text_chars: int = 512
    learning_rate: float | None = None  # None: LEARNING_RATES[train]
    warmup_steps: int = 10
    schedule: str = "constant"  # constant: a run cut short or resumed for more steps is on the same schedule;
    # linear: the usual fine-tuning decay to 0 at `steps`
    budget_minutes: float | None = None  # linear: plan the decay to end when this much training time is spent;
    # `steps` (then an upper bound) is fixed after the warm-up from the steps' pace (`plan_steps`)
    planned_at: int | None = None  # the step after which `steps` was fixed from `budget_minutes`
    step_cap: int | None = None  # the `steps` a time-budgeted run was given: its plans never go past it
    replanned_at: int | None = None  # the last step after which the pace moved `steps` (`replan`): from there
    replan_rate: float = 1.0  # the rate falls in a straight line from this share of the peak to 0 at `steps`
    plans: list[list[int]] = field(default_factory=list)  # [after step, steps] of the plan and of each move, in order
    temperature: float = 100.0  # ALM's binarisation temperature
    alm_diff: str = "binary-kl"  # binary-kl (the paper's), shortfall (binary-kl where the student is below the
    # teacher), hinge (the nats the student is below the teacher), squared or abs (absolute errors in nats)
    alm_chunks: str = "token"  # token: every shared boundary; space: shared boundaries a space follows, the
    # space's probability included on both sides, so that both models score the same event
    lm_weight: float = 1.0  # weight of the next-token part beside others (alm+lm, ...)
    latent_weight: float = 1.0  # weight of the hidden-state term
    side_weight: float = 1.0  # weight of the side part (next-token distributions over shared tokens at boundaries)
    side_outcomes: str = "shared"  # shared: tokens both vocabularies spell and extend alike, one outcome for the
    # rest; first-pieces: every token, as groups of the student's first pieces (`first_pieces.py`)
    latent_layers: str = "last"  # hidden states matched by the latents term: the last layer's, or every layer's
    balance: str = "fixed"  # fixed: the weights above; gradient: parts reweighed each step to equal gradient norms
    new_rows_rate: float = 1.0  # train embeddings or all: the learning rate of the rows the transplant made up,
    # as a multiple of the rest's (they start furthest from where they belong)
    seed: int = 0
    bf16: bool = True  # forward passes in bfloat16 autocast where it is faster (a GPU, a CPU with bf16 units)
    checkpoint_activations: bool = False  # the student's layers keep only their inputs and compute the rest
    # again in the backward: about one more forward's work for a fraction of the activations' memory
    pack: bool = True  # a batch's texts packed into rows (each attends to itself), not padded one to a row:
    # the same losses at fewer positions (`packing.py`)
    segment_attention: bool = True  # packed: every text of a batch in one row, attended one text at a time
    # (`segment_attention.py`), where the models take it; else rows under a block-diagonal mask
    save_every: int = 50
    log_every: int = 10
    text_field: str = "text"  # the field holding the text in .jsonl records of the corpus

    def validate(self) -> None:
        """Raise `ParameterError` for a setting that makes no sense, naming it."""
        check_setting_types(self)
        if not 0 <= self.seed < 1 << 63:
            raise ParameterError(f"seed {self.seed} must lie in [0, 2**63 - 1]")
        parts = self.loss.split("+")
        if not parts or any(p not in LOSS_PARTS for p in parts) or len(set(parts)) != len(parts):
            raise ParameterError(f"unknown loss '{self.loss}'; join one or more of {', '.join(LOSS_PARTS)} "
                                 "with '+' (alm, lm, alm+lm, alm+side, ...)")
        if self.alm_chunks not in ALM_CHUNKS:
            raise ParameterError(f"unknown ALM chunks '{self.alm_chunks}'; choose one of {', '.join(ALM_CHUNKS)}")
        if self.side_outcomes not in SIDE_OUTCOMES:
            raise ParameterError(f"unknown side outcomes '{self.side_outcomes}'; choose one of {', '.join(SIDE_OUTCOMES)}")
        if self.alm_diff not in ALM_DIFFS:
            raise ParameterError(f"unknown ALM difference '{self.alm_diff}'; choose one of {', '.join(ALM_DIFFS)}")
        if self.balance not in BALANCE:
            raise ParameterError(f"unknown balance '{self.balance}'; choose one of {', '.join(BALANCE)}")
        if self.latent_layers not in LATENT_LAYERS:
            raise ParameterError(f"unknown latent layers '{self.latent_layers}'; choose one of "
                                 f"{', '.join(LATENT_LAYERS)}")
        if self.schedule not in SCHEDULES:
            raise ParameterError(f"unknown schedule '{self.schedule}'; choose one of {', '.join(SCHEDULES)}")
        if self.train not in TRAINABLE:
            raise ParameterError(f"unknown --train choice '{self.train}'; choose one of {', '.join(TRAINABLE)}")
        for name in ("steps", "batch_size", "text_chars", "save_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name.replace('_', ' ')} must be positive, not {getattr(self, name)}")
        if self.text_chars < 32:
            raise ParameterError(f"texts of {self.text_chars} characters are too short; use at least 32")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise ParameterError(f"learning rate {self.learning_rate} is out of range; use a value in (0, 1)")
        if self.budget_minutes is not None:
            if self.schedule != "linear":
                raise ParameterError("a time budget plans where a linear schedule ends; it needs --schedule linear")
            if not self.budget_minutes > 0:
                raise ParameterError(f"the time budget must be positive, not {self.budget_minutes} minutes")
        if not 0 < self.new_rows_rate <= 1000:
            raise ParameterError(f"the new rows' rate factor must be in (0, 1000], not {self.new_rows_rate}")
        if self.warmup_steps < 0:
            raise ParameterError(f"warm-up steps must not be negative, not {self.warmup_steps}")
        unused = [name for name, part, value, default in (
            ("--lm-weight", "lm", self.lm_weight, 1.0), ("--latent-weight", "latents", self.latent_weight, 1.0),
            ("--side-weight", "side", self.side_weight, 1.0)) if part not in parts and value != default]
        if unused:
            raise ParameterError(f"{unused[0]} weighs a part that --loss {self.loss} does not have")
        if not self.temperature > 0 or not all(w >= 0 for w in (self.lm_weight, self.latent_weight, self.side_weight)):
            raise ParameterError("the ALM temperature must be positive and the LM, latent and side weights not "
                                 "negative")

    @property
    def peak_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else LEARNING_RATES[self.train]

    def learning_rate_at(self, step: int) -> float:
        """A linear ramp over the warm-up steps, then the peak rate (`constant`: a run cut short by a time
        budget, or resumed for more steps, follows the same schedule as one planned that long) or a
        straight fall to 0 at step `steps` (`linear`: planned over `steps`, so a run resumed with the same
        `steps` is exact, one resumed with more is re-planned from where it stands). A run planned by a time
        budget stays at the peak until its `steps` are fixed (`plan_steps`), which happens at the end of the
        warm-up (from its third step on), so that it is the run planned over those steps from the start."""
        if step < self.warmup_steps:
            return self.peak_learning_rate * (step + 1) / (self.warmup_steps + 1)
        if self.awaits_plan:
            return self.peak_learning_rate
        if self.schedule == "linear" and self.replanned_at is not None and step >= self.replanned_at:
            left = (self.steps - step) / max(self.steps - self.replanned_at, 1)
            return self.peak_learning_rate * self.replan_rate * min(max(left, 0.0), 1.0)
        if self.schedule == "linear":
            left = (self.steps - step) / max(self.steps - self.warmup_steps, 1)
            return self.peak_learning_rate * min(max(left, 0.0), 1.0)
        return self.peak_learning_rate

    @property
    def awaits_plan(self) -> bool:
        """Whether `steps` is still to be fixed from the time budget."""
        return self.budget_minutes is not None and self.planned_at is None

    @property
    def plan_step(self) -> int:
        """After how many steps a time-budgeted run fixes its `steps`: the warm-up's end, at least 3 steps in
        (the first step of a process pays one-time costs, so the pace is taken from the steps after it)."""
        return max(self.warmup_steps, PLAN_AFTER_STEPS)

    def plan_steps(self, done: int, seconds_per_step: float, spent_seconds: float) -> int:
        """Fix `steps` after `done` steps: as many as the time left in the budget buys at `seconds_per_step`
        (at least one more, at most the current `steps`); returns it."""
        self.step_cap = self.steps
        self.steps = self._affordable(done, seconds_per_step, spent_seconds)
        self.planned_at = done
        self.plans.append([done, self.steps])
        return self.steps

    def end_plan(self, done: int) -> None:
        """Fix `steps` at `done`: the budget ran out before the pace could be taken, so the run ends there."""
        self.steps = self.planned_at = done
        self.plans.append([done, done])

    def replan(self, done: int, seconds_per_step: float, spent_seconds: float) -> bool:
        """After a planned run's `done` steps, at the steps' recent pace: where the time left buys more than
        `REPLAN_MARGIN` more or fewer steps than planned, move `steps` there and let the rate fall from
        where it stands to 0 at the new end (no jump), so that the run ends on its budget at rate 0; returns
        whether it did (a step either way is the rounding of the time left, not a change of pace). A
        machine's pace drifts: a plan fixed after the warm-up alone missed by up to 10%."""
        if self.planned_at is None or self.budget_minutes is None or done >= self.steps:
            return False
        steps = self._affordable(done, seconds_per_step, spent_seconds)
        if abs(steps - self.steps) <= max(1.0, REPLAN_MARGIN * (self.steps - done)):
            return False
        self.replan_rate = self.learning_rate_at(done) / self.peak_learning_rate
        self.steps, self.replanned_at = steps, done
        self.plans.append([done, steps])
        return True

    def _affordable(self, done: int, seconds_per_step: float, spent_seconds: float) -> int:
        """The step count the budget's time left ends at, at `seconds_per_step`: at least one more step, at
        most the `steps` the run was given."""
        cap = self.step_cap if self.step_cap is not None else self.steps
        left = self.budget_minutes * 60 - spent_seconds
        more = int(left // seconds_per_step) if seconds_per_step > 0 else cap
        return min(cap, done + max(1, more))

    def as_json(self) -> dict:
        return asdict(self)

    def as_card(self) -> dict:
        """The settings as the card records them: with the peak learning rate the run uses (the default
        rate of its `train` choice where `learning_rate` is None, which stays None so that a resumed run
        keeps following the default)."""
        return {**self.as_json(), "peak_learning_rate": self.peak_learning_rate}

    @classmethod
    def from_json(cls, data: dict) -> DistillConfig:
        known = {f.name for f in fields(cls)}
        # a run saved before packing, or before segment attention, existed goes on as it began
        data = {"pack": False, "segment_attention": False, **data}
        return cls(**{k: v for k, v in data.items() if k in known})
