"""What a worker process runs: `workers.build_workers` (one worker per queue) and `process.run_worker`
(connect, schedules, run until stopped); `python worker.py` is their entry point."""
