"""The `dunning-bandit` command line."""

from __future__ import annotations

from importlib.metadata import version as package_version

import typer

app = typer.Typer(
    help="dunning-bandit: learn which payment reminder to send.", no_args_is_help=True
)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(package_version("dunning-bandit"))


if __name__ == "__main__":
    app()
