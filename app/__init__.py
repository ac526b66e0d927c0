"""The edges: the `takedown` command line tool (and, later, the HTTP service). Turns files and requests
into calls on `matcher` and `index`, and results into output."""
