"""Client-side saga operations shared by the API, the CLIs and the activities that start sagas: no HTTP here.

`client` connects to Temporal the way every c2c process does; `starts` starts a deal's saga exactly once;
`finance` lists, shows, resolves and cancels sagas; `schedules` keeps the Temporal Schedules in place. Their
refusals are the domain errors of `errors`; the API maps them to HTTP in one place (api/errors.py).
"""
