"""The `tokwork` command: assembles the sub-commands and turns user mistakes into one-line errors.

Every `TokworkError` and every usage error becomes one line on stderr and exit code 2; `--help` works on
every command. No computation lives here: each command calls one library function.
"""

from __future__ import annotations

import errno
import inspect
import multiprocessing
import os
import signal
import sys

import typer

try:  # typer >= 0.24 carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions

from tokwork.cli.adapt import adapt_command
from tokwork.cli.bench import bench_command
from tokwork.cli.bytes import bytes_app
from tokwork.cli.cache import cache_command
from tokwork.cli.console import SIGPIPE_EXIT
from tokwork.cli.distill import distill_command
from tokwork.cli.encode import encode_command
from tokwork.cli.eval import eval_command
from tokwork.cli.hypernet import hypernet_app
from tokwork.cli.info import info_command
from tokwork.cli.model import model_app
from tokwork.cli.train import train_bpe_command, train_char_command, train_unigram_command
from tokwork.cli.train_extend import train_extend_command
from tokwork.cli.train_stochastic import train_stochastic_command
from tokwork.cli.train_supertoken import train_supertoken_command
from tokwork.cli.transplant import transplant_command
from tokwork.errors import TokworkError

app = typer.Typer(
    name="tokwork",
    help="Tokenizer engineering workbench: train, inspect, measure and transplant LLM tokenizers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from tokwork import __version__

        print(f"tokwork {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", help="Print tokwork's version and stop.",
                                          is_eager=True, callback=_print_version)) -> None:
    """Options of the tokwork command itself, before any sub-command."""


train_app = typer.Typer(
    help="Train a tokenizer on files, folders, .gz or .jsonl corpora; writes tokenizer files + tokwork.json.",
    no_args_is_help=True,
)
train_app.command("bpe")(train_bpe_command)
train_app.command("unigram")(train_unigram_command)
train_app.command("char")(train_char_command)
train_app.command("stochastic")(train_stochastic_command)
train_app.command("supertoken")(train_supertoken_command)
train_app.command("extend")(train_extend_command)
app.add_typer(train_app, name="train")
app.add_typer(bytes_app, name="bytes")
app.command("encode")(encode_command)
app.command("info")(info_command)
app.add_typer(model_app, name="model")
app.add_typer(hypernet_app, name="hypernet")
app.command("transplant")(transplant_command)
app.command("eval")(eval_command)
app.command("distill")(distill_command)
app.command("bench")(bench_command)
app.command("adapt")(adapt_command)
app.command("cache")(cache_command)


def flow_help(group: typer.Typer) -> None:
    """Give every command of `group` and its sub-groups its docstring as help with each paragraph on one
    line. typer (rich markup) keeps a paragraph's line breaks in the command lists and in the paragraphs
    after the first, so a docstring wrapped at the source's width printed broken mid-sentence."""
    for info in group.registered_commands:
        if info.help is None and info.callback is not None:
            text = inspect.cleandoc(info.callback.__doc__ or "")
            info.help = "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
    for sub in group.registered_groups:
        flow_help(sub.typer_instance)


flow_help(app)


def fail(message: str) -> int:
    """Print a one-line error on stderr and return the exit code for user mistakes."""
    line = " ".join(message.split())
    print(f"tokwork: error: {line}", file=sys.stderr)
    return 2


INTERRUPTED, TERMINATED = 130, 143  # the shells' codes for SIGINT and SIGTERM
_terminated = False  # set by the SIGTERM handler that `run` installs
WORKER_GRACE_SECONDS = 2  # how long a worker may take to end on SIGTERM before it is killed


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return its exit code (tests call this; the console script calls `run`)."""
    try:
        result = app(args=argv, prog_name="tokwork", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as err:
        print(err.ctx.get_help() if err.ctx else str(err))
        return 0
    except click_exceptions.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        return fail(err.format_message() + hint)
    except typer.Exit as err:
        return err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        result = INTERRUPTED
    except TokworkError as err:
        return fail(str(err))
    except Exception as err:  # noqa: BLE001 - re-raised unless it is the disk that failed
        if not _disk_full(err):
            raise
        return fail(f"the disk is full (or over quota) while writing: {' '.join(str(err).split())[:200]}; free "
                    "space or write the output elsewhere (nothing half written was left in place)")
    if result == INTERRUPTED:  # typer returns the code of an interrupt itself
        print(f"tokwork: {'terminated' if _terminated else 'interrupted'}", file=sys.stderr)
        return TERMINATED if _terminated else INTERRUPTED
    return result if isinstance(result, int) else 0


def _disk_full(err: BaseException) -> bool:
    """Whether `err` says the disk ran out of room: an OSError of that kind, or the same message from a
    library that raises its own type for it (safetensors, tokenizers)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)


def _on_terminate(main_process: int):
    """A SIGTERM handler (kill, timeout, a job scheduler): in the command's own process, end its worker
    processes (which, unlike with Ctrl-C, were not signalled with it) and unwind as Ctrl-C does, so that no
    output is half written; in a forked worker, die as the default action would."""
    def handle(signum, frame) -> None:
        global _terminated
        if os.getpid() != main_process:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()
        for child in children:  # a child just forked may lose the signal (Python clears its flags there)
            child.join(WORKER_GRACE_SECONDS)
            if child.is_alive():
                child.kill()
                child.join()
        _terminated = True
        raise KeyboardInterrupt

    return handle


def run() -> None:
    """Console-script entry point. A reader that closed the pipe early (`tokwork encode ... | head`) ends
    the command quietly, with the shell's code for SIGPIPE, as other tools in a pipe do."""
    signal.signal(signal.SIGTERM, _on_terminate(os.getpid()))
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # a plain print to the closed pipe (rich's consoles end as below themselves)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush would fail again
        code = SIGPIPE_EXIT
    if code in (INTERRUPTED, TERMINATED) and "ray" in sys.modules:
        # an interrupt reaches Ray's own processes too (the whole process group gets Ctrl-C), and its
        # library can then crash in its exit hooks: the outputs are cleaned up by now, so end here
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
