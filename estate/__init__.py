"""The local estate shared by the demo, chaos, bench and tests: its processes and the deals seeded into it."""
