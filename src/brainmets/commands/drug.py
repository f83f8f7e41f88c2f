"""``brainmets drug``: systemic-drug evidence cards (target, mechanism, CNS evidence, BBB note)."""

from __future__ import annotations

import json

import typer

from brainmets.commands._common import fail


def register(app: typer.Typer) -> None:
    @app.command("drug")
    def drug(
        name: str = typer.Argument(
            None, help="Card id, option id or drug name (e.g. osimertinib)."
        ),
        list_: bool = typer.Option(False, "--list", "-l", help="List every card."),
        fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    ) -> None:
        """Print a systemic drug's evidence card, or list the cards."""
        if fmt not in ("text", "json"):
            fail(f"--format: expected text|json, got {fmt!r}")
        from brainmets.treatment import cards

        if list_ or not name:
            if not list_:
                fail("NAME: give a drug name, or --list")
            items = [c for c in (cards.get_card(i) for i in cards.card_ids()) if c is not None]
            if fmt == "json":
                typer.echo(json.dumps([{"id": c["id"], "name": c["name"], "role": c["role"],
                                        "option_ids": c["option_ids"], "target": c["target"]}
                                       for c in items], indent=2))
                return
            for c in items:
                opt = ", ".join(c["option_ids"]) or "-"
                typer.echo(f"{c['id']:38} {c['role']:17} option: {opt}")
            typer.echo(cards.CAPTION)
            return
        card = cards.get_card(name)
        if card is None:
            fail(f"NAME: no evidence card for {name!r}; see `brainmets drug --list` "
                 f"({', '.join(cards.card_ids())})")
        if fmt == "json":
            typer.echo(json.dumps(card, indent=2))
        else:
            typer.echo(cards.render_text(card))
