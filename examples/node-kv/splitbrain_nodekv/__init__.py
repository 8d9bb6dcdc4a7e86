"""splitbrain plugin for node-kv, a primary-backup key-value store written in JavaScript for Node.js
(``server.js``): the tutorial's example of a server in another language (docs/your-own-system.md, section 9).

Found by ``splitbrain --plugin splitbrain_nodekv`` or, once installed, by its ``splitbrain.plugins`` entry point.
"""

from splitbrain.api import register_system


def register() -> None:
    register_system("node-kv", "splitbrain_nodekv.system:NodeKv")
