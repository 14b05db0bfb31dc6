"""`python -m tokwork.cli` runs the command line, as the `tokwork` console script does."""

from tokwork.cli.main import run

run()
