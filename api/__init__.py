"""The HTTP API: webhooks (CRM, billing), finance's endpoints, and the codec endpoint for the Temporal UI.

`app.create_api` builds it; `errors` maps the operations' domain errors to HTTP (the only place that does);
`webhooks` verifies and dedupes inbound events; `access` holds bearer tokens and body limits; `codec` serves
the payload codec to the UI.
"""
