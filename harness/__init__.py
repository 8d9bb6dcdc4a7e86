"""The harness: history format, clusters, the runner and the command line."""
