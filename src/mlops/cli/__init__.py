"""The `mlops` command line: thin Typer commands over the library."""
