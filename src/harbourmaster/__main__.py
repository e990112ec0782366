"""``python -m harbourmaster`` and the ``harbourmaster`` console script.

``harbourmaster credential-provider`` without a subcommand is the kubelet's image credential provider,
exec'd for every uncached pull: it is answered before the CLI (Typer, pydantic, ...) is imported."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    if sys.argv[1:] == ["credential-provider"]:
        from harbourmaster.cli._kubelet_plugin import main as answer_kubelet

        raise SystemExit(answer_kubelet())
    from harbourmaster.cli.main import main as cli

    cli()


if __name__ == "__main__":
    main()
