"""Alembic's environment for the privacy budget store: migrates on the connection `BudgetStore` hands over
(`config.attributes["connection"]`), inside the transaction it holds, so an upgrade commits whole or not at all."""

from alembic import context

if context.is_offline_mode():
    raise RuntimeError("the privacy budget store's migrations run online only (BudgetStore opens the store)")

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
