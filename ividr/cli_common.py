"""What every ``ividr`` subcommand shares: usage errors as one line with exit code 2 (§7)."""

from __future__ import annotations

import click


def _one_line_usage_error(exc: click.UsageError) -> click.exceptions.Exit:
    click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
    return click.exceptions.Exit(2)


class OneLineCommand(click.Command):
    """A command whose usage errors, while parsing or in its body, print one line and exit 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from None
