"""work-queue: a replicated, durable work queue with acknowledgements, leases and redelivery.

See ``server.py`` for the design and the wire protocol. This package imports nothing from the project (it is
shipped as a plain directory to remote hosts).
"""
