"""The chaos run (`python -m chaos`): faults on, worker and server killed, then every system is counted."""
