"""The tokwork command line (typer); each command calls one library function.

This folder is installed as `tokwork.cli`; importing it under any other name is a mistake that would
load a second copy of the code, so it is refused.
"""

if __name__ != "tokwork.cli":
    raise ImportError("import tokwork.cli, not the folder 'cli' on its own")
