"""Reports: render results and histories into HTML. They render and never judge."""
