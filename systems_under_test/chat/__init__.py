"""chat: chat rooms whose messages are spread between nodes by a broadcast algorithm chosen by the variant
(sequencer total order, vector-clock causal order, FIFO only, best effort, gossip).

See ``server.py`` for the wire protocol. This package imports nothing from the project (it is shipped as a plain
directory to remote hosts).
"""
