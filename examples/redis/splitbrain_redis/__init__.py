"""splitbrain plugin for Redis replication: importing this module and calling ``register()`` registers the
``redis`` system and the error codes its client reports.

Found by ``splitbrain --plugin splitbrain_redis`` or, once installed, by its ``splitbrain.plugins`` entry point.
The adapter (and redis-py) is imported only when a test uses it.
"""

from splitbrain.api import register_error, register_system


def register() -> None:
    register_system("redis", "splitbrain_redis.system:Redis")
    # Definite: a replica refuses writes before doing anything (READONLY).
    register_error("read-only", True, "the node is a replica: it refused to write")
    # Indefinite: the primary applied the write, but WAIT saw too few replicas acknowledge it in time.
    register_error("not-replicated", False, "the primary applied it, but too few replicas acknowledged it (WAIT)")
    # Indefinite: an error reply the client can't classify.
    register_error("redis-error", False, "Redis replied with an error the client can't classify")
