"""The card of a trained tokenizer (`tokwork.json`) and how a trained tokenizer is written to disk.

The card says how the tokenizer was made: its kind and parameters, the corpus files with their sha256 and
sizes, the time taken and the library versions, so that a result can be traced and rebuilt. The tokenizer
files beside it are standard (`tokenizer.json`, `tokenizer.model`) and load without tokwork. The file
itself is written and read by `tokwork.card`, like every tokwork output's card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tokwork.card import CardError, created_now, library_versions, read_card, write_card
from tokwork.corpus import CorpusFile
from tokwork.outputs import output_directory
from tokwork.tokenizer import Tokenizer

# The kinds of the tokenizers the trainers write (cards' "kind"): an output of one of them may be replaced
# by a newly trained tokenizer without --force.
TOKENIZER_KINDS = ("bpe", "char", "supertoken", "stochastic", "extend", "unigram", "sentencepiece-bpe")


@dataclass
class TrainingCard:
    """How a tokenizer was made; saved as `tokwork.json` beside the tokenizer files."""

    kind: str
    parameters: dict
    corpus: list[dict]
    seconds: float
    libraries: dict = field(default_factory=library_versions)
    created: str = field(default_factory=created_now)
    files: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @classmethod
    def for_corpus(cls, kind: str, parameters: dict, corpus: list[CorpusFile], seconds: float, **extra):
        """The card of a tokenizer of `kind` trained with `parameters` on `corpus` in `seconds`."""
        return cls(kind=kind, parameters=parameters, corpus=[f.as_json() for f in corpus], seconds=seconds, **extra)

    @property
    def corpus_bytes(self) -> int:
        """Bytes of training text, all files together."""
        return sum(f["bytes"] for f in self.corpus)

    def as_json(self) -> dict:
        return {**asdict(self), "corpus_bytes": self.corpus_bytes}

    @classmethod
    def read(cls, directory: str | Path) -> TrainingCard:
        """The card of the trained tokenizer in `directory`; `CardError` for a folder whose card
        is not a trained tokenizer's (a model, a report)."""
        data = read_card(directory)
        data.pop("corpus_bytes", None)
        known = {f.name for f in fields(cls)}
        if data.get("kind") not in TOKENIZER_KINDS or not {"kind", "parameters", "corpus", "seconds"} <= set(data):
            raise CardError(f"'{directory}' holds a tokwork card of kind '{data.get('kind')}', not a "
                                       "trained tokenizer's (read it with tokwork.card.read_card)")
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainedTokenizer:
    """A freshly trained tokenizer and its card."""

    tokenizer: Tokenizer
    card: TrainingCard

    def __repr__(self) -> str:
        files = len(self.card.corpus)
        return (f"<TrainedTokenizer {self.card.kind}: {self.tokenizer.vocab_size:,} ids, trained on {files} "
                f"file{'s' * (files != 1)} ({self.card.corpus_bytes:,} bytes) in {self.card.seconds:.1f} s>")

    def __post_init__(self) -> None:
        # made absolute now, from the folder the tokenizer was trained in, so that a save after a change of
        # folder still knows them (a name such as 'gpt2' stays a name)
        self._inputs = [str(Path(p).absolute()) if Path(p).exists() else p for p in self._card_inputs()]

    def _card_inputs(self) -> list[str]:
        corpus = [entry["path"] for entry in self.card.corpus if isinstance(entry, dict) and entry.get("path")]
        parity = self.card.parameters.get("parity")
        dev = parity.get("dev") if isinstance(parity, dict) else None
        return [*map(str, corpus), *(str(p) for p in (self.card.parameters.get("base"), dev) if p)]

    def inputs(self) -> list[str]:
        """What the tokenizer was made from, as the card names it (corpus files, the base tokenizer, the
        parallel dev set; absolute where they are paths): a folder holding one of them is never the output,
        even with `force`."""
        return list(self._inputs)

    def save(self, directory: str | Path, *, force: bool = False) -> Path:
        """Write the tokenizer files and `tokwork.json` into `directory`, atomically; return the path. A
        folder that holds what the tokenizer was made from is refused, even with `force`."""
        with output_directory(directory, force=force, kinds=TOKENIZER_KINDS, inputs=self.inputs()) as staging:
            written = self.tokenizer.save(staging)
            self.card.files = sorted(p.name for p in written)
            write_card(staging, self.card)
        return Path(directory)
