"""``python -m konstruct_memory``: the command line, as the ``konstruct-memory`` script."""

from konstruct_memory.cli import main

main()
