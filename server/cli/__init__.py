"""The `wakeful` command line (Typer + Rich)."""
