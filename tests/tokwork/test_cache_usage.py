"""`tokwork cache`: the cache's folders with their sizes, and clearing some of them."""

from __future__ import annotations

import pytest

from tokwork.cache_usage import cache_usage, clear_cache
from tokwork.cli.main import main
from tokwork.errors import ParameterError


def _fill(root):
    (root / "byteviews").mkdir(parents=True)
    (root / "byteviews" / "a.bin").write_bytes(b"x" * 3000)
    (root / "byteviews" / "b.bin").write_bytes(b"x" * 1000)
    (root / "donors" / "inner").mkdir(parents=True)
    (root / "donors" / "inner" / "v.safetensors").write_bytes(b"x" * 5000)
    (root / "odd").mkdir()


def test_usage_lists_each_folder_by_size_and_clearing_removes_only_the_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    assert cache_usage() == []  # no cache yet
    _fill(tmp_path / "cache")
    found = cache_usage()
    assert [(f.name, f.bytes, f.files) for f in found] == [("donors", 5000, 1), ("byteviews", 4000, 2), ("odd", 0, 0)]
    assert found[0].comes_back == "on use" and "not made by" in found[2].holds
    assert clear_cache(["byteviews", "byteviews"]) == 4000
    assert [f.name for f in cache_usage()] == ["donors", "odd"]
    # only what tokwork makes goes: a cache root set to a folder of one's own keeps the rest
    assert clear_cache(["all"]) == 5000 and [f.name for f in cache_usage()] == ["odd"]
    with pytest.raises(ParameterError, match="'odd' in .* is not a folder tokwork makes"):
        clear_cache(["odd"])
    assert (tmp_path / "cache" / "odd").is_dir()
    with pytest.raises(ParameterError, match="no cache folder named 'donors'"):
        clear_cache(["donors"])


def test_cli_shows_the_table_and_refuses_an_unknown_folder_before_removing_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    _fill(tmp_path / "cache")
    assert main(["cache"]) == 0
    shown = capsys.readouterr().out
    assert "donors" in shown and "5.0 kB" in shown and "9.0 kB" in shown  # the total row
    assert main(["cache", "--clear", "byteviews", "--clear", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope' in" in err and "is not a folder tokwork makes" in err
    assert (tmp_path / "cache" / "byteviews" / "a.bin").is_file()
    assert main(["cache", "--clear", "byteviews"]) == 0
    assert "freed 4.0 kB" in capsys.readouterr().out and not (tmp_path / "cache" / "byteviews").exists()
