"""One writer per output: a second tokwork process is refused, a killed writer's leftovers are cleared."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tokwork.errors import OutputError
from tokwork.outputs import check_output_directory, output_directory, output_file

HOLD = """
import sys, time
from tokwork.outputs import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(30)
"""


def test_a_second_writer_is_refused_while_the_first_holds_the_output(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match="is being written by another tokwork command"), \
                output_directory(out) as staging:
            (staging / "x").write_text("never placed")
        with pytest.raises(OutputError, match="is being written by another tokwork command"), \
                output_file(tmp_path / "out") as staging:
            staging.write_text("never placed")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    with output_directory(out) as staging:  # the holder is gone, and so is its hold
        (staging / "x").write_text("placed")
    assert (out / "x").read_text() == "placed"
    assert not list(tmp_path.glob(".out.lock"))  # the lock file goes with the hold


def test_a_killed_writers_leftovers_are_cleared_by_the_next_one(tmp_path):
    out = tmp_path / "out"
    (tmp_path / ".out.tmp-a1b2").mkdir()  # what SIGKILL leaves: a staging folder and a retired one
    (tmp_path / ".out.tmp-a1b2" / "model.safetensors").write_bytes(b"half")
    (tmp_path / ".out.old-c3d4").mkdir()
    (tmp_path / ".other.tmp-e5f6").mkdir()  # another output's: not this one's to clear
    started = time.perf_counter()
    with output_directory(out) as staging:
        (staging / "x").write_text("placed")
    assert time.perf_counter() - started < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-e5f6", "out"]


def test_an_output_that_is_a_link_is_refused(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OutputError, match="is a symbolic link; give the folder it points to"):
        check_output_directory(tmp_path / "link")
    assert (tmp_path / "link").is_symlink()


def test_an_output_inside_an_input_folder_is_refused(tmp_path):
    """Inputs are never modified: a model or corpus folder does not get an output folder inside it."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(OutputError, match="lies inside the input folder"):
        check_output_directory(model / "distilled", inputs=[model])
    with pytest.raises(OutputError, match="lies inside the input folder"), \
            output_file(model / "ids.npy", inputs=[tmp_path / "elsewhere.txt", model]) as staging:
        staging.write_text("never placed")
    assert sorted(p.name for p in model.iterdir()) == ["config.json"]
    check_output_directory(tmp_path / "beside", inputs=[model])  # beside it is fine


def test_a_cache_file_is_written_while_another_process_holds_it(tmp_path):
    """Caches (byte views, sampler tables, donor vectors, lexicon answers) hold the same bytes whoever
    writes them: processes that build one at once (bench workers, Ray tasks) must not refuse each other."""
    cached = tmp_path / "cache.bin"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(cached)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with output_file(cached, cache=True) as staging:
            staging.write_bytes(b"same bytes")
        assert cached.read_bytes() == b"same bytes"
    finally:
        holder.kill()
        holder.wait()
