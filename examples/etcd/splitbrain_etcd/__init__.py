"""splitbrain plugin for etcd: importing this module registers the ``etcd`` system.

Found by ``splitbrain --plugin splitbrain_etcd`` or, once installed, by its ``splitbrain.plugins`` entry point.
Registration is by name ("module:Class"), so the adapter itself is imported only when a test uses it.
"""

from splitbrain.api import register_system


def register() -> None:
    register_system("etcd", "splitbrain_etcd.system:Etcd")
