"""CLI sub-commands: one module per verb group, each with ``register(app: typer.Typer)``."""
