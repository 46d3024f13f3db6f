"""Where cluster state comes from: a live API server, -f files, or the built-in demo.

``kube.live`` is the only module that imports ``kubernetes``, and only when a live
cluster is actually read, so ``--help``, ``--demo`` and ``-f`` never pay for it.
"""
