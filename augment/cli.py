"""`augment`: minority-class synthesis and classical augmentation. Global options as in `curate`."""

from __future__ import annotations

import typer

from curate.clikit import global_options

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(global_options)
