"""Writing outputs so that nothing is lost: work happens in a temporary sibling that is renamed into place.

A failed or interrupted run leaves the previous output (or nothing) where the user looks, never a half
written directory. One rule decides whether an output directory may be written, for every command and
library call (`check_output_directory`): an earlier tokwork output of the same family (a folder whose
`tokwork.json` card names one of the kinds the caller makes: a tokenizer replaces a tokenizer, a report a
report) is replaced; a non-empty folder that tokwork did not write, or a tokwork output of another
family, is replaced only with `force=True`; a file in the way, a folder that is or holds one of the run's
inputs, and the current folder, one above it, the home folder or the root are always refused. What is
renamed into place gets the permissions the user's umask gives new folders and files (a temporary path
is made private).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

from tokwork.cache import cache_root
from tokwork.card import CARD_NAME, card_text
from tokwork.errors import OutputError, TokworkError
from tokwork.file_modes import publish_modes
from tokwork.reference_tokenizers import tokenizer_path
from tokwork.smollm2 import ALIAS as MODEL_ALIAS
from tokwork.smollm2 import converted_path


def check_output_directory(path: str | Path, *, force: bool = False, kinds: Collection[str | None] | None = None,
                           inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse an output directory that is a file, that is or holds one of `inputs` (which replacing it
    would delete), or that is the current folder, one above it, the home folder or the root; and, unless
    `force`, a non-empty folder tokwork did not write (no card) or a tokwork output whose card kind is not
    one of `kinds` (None: any kind). An earlier output of those kinds passes, to be replaced.

    Call it before long work starts so that the user learns of the clash at once.
    """
    if not str(path).strip():
        raise OutputError("the output path is empty; give a folder name")
    path = Path(path)
    try:
        is_file = path.exists() and not path.is_dir()
        dangling = path.is_symlink() and not path.exists()
        path.resolve(strict=False)
    except (OSError, RuntimeError) as err:  # a name too long, a link that loops
        raise OutputError(f"cannot write '{path}': {getattr(err, 'strerror', None) or err}") from None
    if is_file:
        raise OutputError(f"output '{path}' exists and is a file, not a directory; choose another path")
    if dangling:
        raise OutputError(f"output '{path}' is a link to nothing ({os.readlink(path)}); remove it or give another name")
    if path.is_symlink():  # an output is renamed into place: the link itself would be replaced by a folder
        raise OutputError(f"output '{path}' is a symbolic link; give the folder it points to ('{path.resolve()}')")
    check_room_for(path)
    _refuse_places_that_hold_more(path, inputs)
    if not path.is_dir() or force or not any(path.iterdir()):
        return path
    if not (path / CARD_NAME).is_file():
        raise OutputError(
            f"output directory '{path}' already exists and is not a tokwork output; pass --force to replace it"
        )
    card = _read_card(path)
    if not card:
        raise OutputError(f"output directory '{path}' has a {CARD_NAME} that cannot be read as a tokwork card; "
                          "move the folder or pass --force to replace it")
    kind = card.get("kind") if isinstance(card.get("kind"), str) else (None if _older_transplant(card) else "")
    if kinds is not None and kind not in kinds:
        held = f"a tokwork '{kind}' output" if kind else "a tokwork output of another kind"
        raise OutputError(f"output directory '{path}' holds {held}, not one this command writes; choose another "
                          "path or pass --force to replace it")
    if "files" in card:  # cards from before they listed their files have nothing to go by
        written = card["files"]
        listed = {str(name) for name in written} if isinstance(written, list) else set()
        others = sorted({p.name for p in path.iterdir()} - {CARD_NAME, *listed})
        if others:
            raise OutputError(f"output directory '{path}' also holds files tokwork did not write there "
                              f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); move them or pass "
                              "--force to replace the folder")
    return path


def check_room_for(path: str | Path) -> None:
    """Refuse an output path that cannot be made: one below a file, or in a folder this user cannot write
    in (checked before the work, so that a long run does not end in a failed rename)."""
    folder = Path(path).absolute().parent
    while not folder.exists() and not folder.is_symlink():
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write '{path}': '{folder}' is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{path}': no permission to write in '{folder}'")


def _refuse_places_that_hold_more(path: Path, inputs: Iterable[str | Path]) -> None:
    """Refuse, even with --force, an output whose replacement would take more than an output with it."""
    where = path.resolve()
    here, cache = Path.cwd().resolve(), cache_root().resolve()
    places = {here: "the current folder", Path.home().resolve(): "the home folder", Path(where.anchor): "the root",
              cache: "the tokwork cache"}
    place = places.get(where) or ("a folder that holds the current one" if where in here.parents else None) or (
        "a folder that holds the tokwork cache" if where in cache.parents else None)
    if place:
        raise OutputError(f"output '{path}' is {place}, which replacing would delete; give a new folder's name")
    clash = _input_clash(where, inputs)
    if clash and clash[1] == "inside":
        raise OutputError(f"output '{path}' lies inside the input folder '{clash[0]}', which writing it would change "
                          "(inputs are never modified); choose a folder outside it")
    if clash:
        raise OutputError(f"output '{path}' {clash[1]} the input '{clash[0]}', which replacing it would delete; "
                          "choose another output folder")


def _input_clash(where: Path, inputs: Iterable[str | Path]) -> tuple[str | Path, str] | None:
    """The first input that lies at `where` (resolved), inside it, or is a folder `where` lies inside, with
    which of these it is: "is", "holds" or "inside"."""
    for given in inputs:
        for source in _input_paths(given):
            if source.exists():
                found = source.resolve()
                if found == where or where in found.parents:
                    return given, "is" if found == where else "holds"
                if found in where.parents and source.is_dir():
                    return given, "inside"
    return None


def _input_paths(given: str | Path) -> Iterator[Path]:
    """Where an input lies: its path, and for a name that is no path here, what the name stands for (a
    reference tokenizer, the SmolLM2 alias: folders in the cache) or, for a pattern, the files it matches."""
    path = Path(given)
    yield path
    if path.exists():
        return
    with suppress(TokworkError):  # a reference tokenizer not fetched: nothing there to protect
        yield tokenizer_path(path)  # the path itself again when it names no reference tokenizer
    if str(given) == MODEL_ALIAS:
        yield converted_path()
    if any(mark in str(given) for mark in "*?["):
        yield from map(Path, glob.glob(str(given)))  # absolute patterns too


def _older_transplant(card: dict) -> bool:
    """A transplant's card from before cards named their kind (it has the transplant's own fields)."""
    return "kind" not in card and {"method", "alignment", "source", "target"} <= card.keys()


def _read_card(path: Path) -> dict:
    """A folder's card as written; {} for one that cannot be read or is not a JSON object."""
    try:
        data = json.loads((path / CARD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def _refused_as_output_error(path: Path) -> Iterator[None]:
    """The system's refusal to make a folder or file next to `path`, as a one-line `OutputError`."""
    try:
        yield
    except OSError as err:
        raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None


def list_files_in_card(folder: Path) -> None:
    """Record in an output's card (when it has one) the names of what the folder holds, so that a later run
    replacing it can tell the user's own files from tokwork's; `output_directory` does it as it writes, a
    command that adds files to a finished output (a report beside a model) does it again."""
    card = _read_card(folder) if (folder / CARD_NAME).is_file() else {}
    if card:
        card["files"] = sorted(p.name for p in folder.iterdir() if p.name != CARD_NAME and ".tmp-" not in p.name)
        with output_file(folder / CARD_NAME) as staging:
            staging.write_text(card_text(card), encoding="utf-8")


@contextmanager
def output_directory(path: str | Path, *, force: bool = False, kinds: Collection[str | None] | None = None,
                     inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; on success it replaces `path` in one rename.

    On an exception the temporary directory is removed and `path` is left as it was. `force`, `kinds`
    and `inputs` are `check_output_directory`'s.
    """
    path = check_output_directory(path, force=force, kinds=kinds, inputs=inputs).absolute()
    with output_lock(path):
        with _refused_as_output_error(path):
            staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with _interrupts_deferred(), _refused_as_output_error(path):  # no half-moved output on Ctrl-C or kill
            list_files_in_card(staging)
            publish_modes(staging)
            if path.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                os.replace(path, retired / path.name)
                os.replace(staging, path)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, path)


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while an output is moved into place, and act on one afterwards, so that an
    interrupt leaves the old output or the new one, never a half-moved pair of folders."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if caught:
            os.kill(os.getpid(), caught[0])  # the output is in place; now the interrupt takes its course


@contextmanager
def output_file(path: str | Path, *, force: bool = True, inputs: Iterable[str | Path] = (),
                cache: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on failure removed. A
    path that is one of `inputs` is refused, even with `force`. A `cache` file (the same bytes whoever
    writes it) is not held (`output_lock`): processes that build it at once each rename their own copy."""
    if not str(path).strip():
        raise OutputError("the output path is empty; give a file name")
    path = Path(path).absolute()
    if path.is_dir():
        raise OutputError(f"output '{path}' is a directory; give a file name")
    clash = _input_clash(path.resolve(), inputs)
    if clash and clash[1] == "inside":
        raise OutputError(f"output '{path}' lies inside the input folder '{clash[0]}', which writing it would change "
                          "(inputs are never modified); choose a file outside it")
    if clash:
        raise OutputError(f"output '{path}' is the input '{clash[0]}', which writing it would destroy; choose "
                          "another output file")
    if path.exists() and not force:
        raise OutputError(f"output file '{path}' exists; pass --force to replace it")
    check_room_for(path)
    with nullcontext() if cache else output_lock(path):
        with _refused_as_output_error(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, staging_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        os.close(handle)
        staging = Path(staging_name)
        try:
            yield staging
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        publish_modes(staging)
        os.replace(staging, path)


def files_into(directory: str | Path, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Have `write(staging)` write files into an empty temporary folder inside `directory` (which must
    exist), then rename each into `directory`; return their final paths. Each file appears whole or not at
    all, so an interrupted or failed write leaves the folder's files as they were."""
    directory = Path(directory)
    if not directory.is_dir():
        raise OutputError(f"folder '{directory}' does not exist; make it first")
    with _refused_as_output_error(directory):
        staging = Path(tempfile.mkdtemp(prefix=".tokwork-save-", dir=directory))
    try:
        written = write(staging)
        publish_modes(staging)
        with _interrupts_deferred(), _refused_as_output_error(directory):
            placed = []
            for path in written:
                target = directory / Path(path).relative_to(staging)
                os.replace(path, target)
                placed.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return placed


_held: set[Path] = set()  # outputs this process holds (`output_lock`), so that nested holds pass


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold the output `path` for this process for the block: another tokwork process that asks for it
    meanwhile is refused in one line (two runs into one folder would each lose the other's work). Holding
    it, the leftovers of a writer that was killed (`.NAME.tmp-*`, `.NAME.old-*` beside it) are removed.
    Where the system has no `fcntl` (Windows), nothing is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on the platforms tokwork is tested on
        yield
        return
    path = Path(path).absolute()
    if path in _held:
        yield
        return
    lock = path.parent / f".{path.name}.lock"
    with _refused_as_output_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with _refused_as_output_error(path):
            handle = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(handle)
            raise OutputError(f"'{path}' is being written by another tokwork command; wait for it to finish or "
                              "choose another output") from None
        try:  # the lock file may have been removed by the holder before us: lock the one that is there
            if os.stat(lock).st_ino == os.fstat(handle).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)
    _held.add(path)
    try:
        for leftover in [*path.parent.glob(f".{glob.escape(path.name)}.tmp-*"),
                         *path.parent.glob(f".{glob.escape(path.name)}.old-*")]:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        yield
    finally:
        _held.discard(path)
        with suppress(OSError):
            os.unlink(lock)
        os.close(handle)
