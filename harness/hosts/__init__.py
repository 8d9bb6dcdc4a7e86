"""Hosts and clusters: where node processes run, and how everything a run creates on them is recorded and removed.

* ``cluster.py`` -- :class:`~.cluster.Cluster`: named nodes on hosts, their processes and clocks; mode-independent
  (it reaches hosts only through :class:`splitbrain.harness.api.Host`);
* local hosts: ``netns.py`` (a network namespace per node, the bridge in a namespace of its own) and
  ``local_cluster.py`` (creating a local cluster);
* SSH hosts: ``ssh_connection.py`` (one paramiko connection per host: host keys, keys, reconnects),
  ``ssh_host.py`` (the Host over it: commands, processes, files), ``ssh_config.py`` (the hosts file) and
  ``ssh_cluster.py`` (a cluster of SSH hosts) with ``ssh_cleanup.py`` (removing what a run left on them);
* iptables: the one helper that names a run's chains and builds their command lines is
  :mod:`splitbrain.nemesis.iptables` (the faults create the chains, ``ssh_cleanup.py`` removes them; local namespaces
  need no iptables cleanup: deleting a namespace deletes its rules);
* ``resources.py`` -- the record of what a run created (written *before* it is created), the single source of
  truth for ``cleanup.py``, which removes it (``cleanup_report.py``: what a cleanup did).

Must not: know workloads, generators or checkers (hosts run processes; what the processes do is the run's business).
"""
