"""splitbrain plugin for PostgreSQL streaming replication: importing this module and calling ``register()``
registers the ``postgres`` system and the error codes its client reports.

Found by ``splitbrain --plugin splitbrain_postgres`` or, once installed, by its ``splitbrain.plugins`` entry point.
The adapter (and psycopg) is imported only when a test uses it.
"""

from splitbrain.api import register_error, register_system


def register() -> None:
    register_system("postgres", "splitbrain_postgres.system:Postgres")
    # Definite: PostgreSQL refused the statement before doing anything.
    register_error("read-only", True, "the node is a standby (in recovery): it refused to write")
    # Indefinite: the server said no, but a commit may still have happened (e.g. canceled while waiting for the
    # synchronous standby: the transaction is already committed locally).
    register_error("pg-error", False, "PostgreSQL reported an error the client can't classify")
