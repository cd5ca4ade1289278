"""The command lines: `finance` (start, list, show, resolve, cancel, serve: `python starter.py ...`) and
`reconcile` (`python -m reconcile ...`)."""
