"""Configuration from the environment (prefix `C2C_`, or a `.env` file); defaults run the local sandbox.

Production sets the vendor base URLs and credentials to the real services and `C2C_TEMPORAL_ADDRESS`
to a cluster; nothing else changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from canonical import ProrationBilling, Vendors
from canonical.reference import LEGAL_ENTITIES

SANDBOX_API_TOKEN = "c2c-sandbox-token"
# The per-system activity queues' suffixes (workflows/interface.py *_QUEUE; runtime/workers.py polls each).
ACTIVITY_QUEUES = ("crm", "billing", "tax", "erp", "hub")


class Scope(StrEnum):
    """What an API token may do."""

    READ = "read"  # list the queue, show a saga
    START = "start"  # start a deal's saga by hand
    RESOLVE = "resolve"  # resolve and cancel parked sagas
    CODEC = "codec"  # decode/encode payloads for the Temporal UI
    USAGE = "usage"  # report usage events (a product system: nothing else)


class ApiToken(BaseModel):
    name: str = Field(min_length=1, description="who holds it (shown in logs, never the token)")
    token: SecretStr = Field(min_length=16)
    scopes: set[Scope]


class VendorLimit(BaseModel):
    """One vendor account's published limits, counted in HTTP requests by every process that shares the store
    (store/ratelimits.py); unset fields are not enforced. Stripe: `requests_per_second` (100 live, 25 test mode);
    NetSuite: `max_concurrency` (the account's concurrent-request limit for integrations); Salesforce:
    `daily_requests` (the org's 24-hour API budget); AvaTax: `requests_per_second`."""

    model_config = {"extra": "forbid"}

    requests_per_second: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    daily_requests: int | None = Field(default=None, ge=1)


class ErpMigration(BaseModel):
    """One legal entity moving to another ERP (docs/decisions.md, "Issue 15: migration and shadow mode")."""

    model_config = {"extra": "forbid"}

    to: str = Field(min_length=1, description="the vendor of the ERP the entity moves to")
    cutover: date = Field(description="invoices dated on or after it post to `to`; sagas started from it use `to`")
    shadow: bool = Field(default=False, description="before the cut-over, plan every ERP write in `to` and compare")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C2C_", env_file=".env", extra="ignore", populate_by_name=True)

    # Temporal (Temporal's own TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE work too)
    temporal_address: str = Field(
        default="localhost:7233", validation_alias=AliasChoices("C2C_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        default="default", validation_alias=AliasChoices("C2C_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE")
    )
    task_queue: str = Field(default="c2c", description="workflow queue; activities use {task_queue}-{system}")
    worker_build_id: str | None = Field(
        default=None,
        description="the worker's build id in the histories; unset: the SDK's hash of every loaded module's code "
        "(about 3.5 s of CPU when a worker starts; the tests set one)",
    )

    # Vendors (defaults: the sandbox emulators from `python -m sandbox`)
    crm: str = "salesforce"
    # Every CRM this deployment serves side by side, comma-separated ("salesforce,hubspot": a subsidiary on its own
    # CRM); C2C_CRM is always one of them and stays the default. Unset: just C2C_CRM.
    crms: str | None = None
    salesforce_url: str = "http://127.0.0.1:8701"
    salesforce_client_id: str = "c2c-sandbox"
    salesforce_client_secret: SecretStr = SecretStr("sandbox-secret")
    # The org's session timeout (Setup > Session Settings), when known: c2c logs in again a minute before it runs
    # out instead of waiting for a 401 INVALID_SESSION_ID (which it also recovers from, once). None: on 401 only.
    salesforce_session_seconds: float | None = Field(default=None, gt=60)
    stripe_url: str = "http://127.0.0.1:8702"
    stripe_api_key: SecretStr = SecretStr("sk_test_c2c_sandbox")
    stripe_payment_method: str = Field(
        default="pm_card_visa", description="payment method attached to new billing customers (sandbox)"
    )
    stripe_webhook_secret: SecretStr = SecretStr("whsec_stripe_sandbox")
    stripe_test_clock: str | None = Field(
        default=None,
        description="test mode only: new billing customers live on this Stripe test clock, so their subscriptions "
        "renew as it advances (the demo and the chaos run move billing time through later periods)",
    )
    # Chargebee (billing where C2C_VENDORS_BY_ENTITY names it): API v2 of one site at {chargebee_url}/api/v2
    # (https://{site}.chargebee.com in production), the API key as the basic-auth username; its webhooks carry the
    # basic-auth username and password configured for the endpoint in Chargebee.
    chargebee_site: str = "c2c-test"
    chargebee_url: str = "http://127.0.0.1:8707"
    chargebee_api_key: SecretStr = SecretStr("test_c2c_chargebee_key")
    chargebee_payment_method: str | None = Field(
        default="tok_visa", description="gateway token of the card attached to new billing customers (test sites)"
    )
    chargebee_webhook_username: str = "c2c"
    chargebee_webhook_password: SecretStr = SecretStr("cb_webhook_sandbox")
    avatax_url: str = "http://127.0.0.1:8703"
    avatax_account_id: str = "1100000000"
    avatax_license_key: SecretStr = SecretStr("sandbox-license")
    netsuite_url: str = "http://127.0.0.1:8704"
    # NetSuite's OAuth 2.0 client credentials (M2M): the integration's client id, the certificate id NetSuite gave
    # the uploaded certificate, and that certificate's private key (RSA: PS256, EC P-256: ES256), as PEM text or
    # a file (the demo generates one at start and registers its certificate with the sandbox).
    netsuite_client_id: str = "c2c-sandbox"
    netsuite_certificate_id: str = ""
    netsuite_private_key: SecretStr | None = None
    netsuite_private_key_file: str | None = "var/netsuite-key.pem"
    # Xero (the ERP of the entities C2C_VENDORS_BY_ENTITY gives it): a custom connection's client credentials and
    # the organisation (tenant id) of each legal entity; the identity server is api_url's host unless set.
    xero_url: str = "http://127.0.0.1:8705"
    xero_identity_url: str | None = None
    xero_client_id: str = "c2c-xero-client"
    xero_client_secret: SecretStr = SecretStr("c2c-xero-secret")
    xero_tenants: dict[str, str] = {"UK01": "4a3c3f0e-5a0b-4c1e-9b1f-0000000000a1"}

    # HubSpot as the CRM (C2C_CRM=hubspot): a private app's access token, or an OAuth app's refresh token (which wins
    # when set) with its client id and secret. The client secret also signs HubSpot's webhooks v3; their signature
    # covers the URL HubSpot calls, so behind a proxy set the public one (None: the URL the request arrived at).
    hubspot_url: str = "http://127.0.0.1:8706"
    hubspot_access_token: SecretStr | None = SecretStr("pat-na1-c2c-sandbox")
    hubspot_client_id: str = "c2c-hubspot-client"
    hubspot_client_secret: SecretStr = SecretStr("c2c-hubspot-secret")
    hubspot_refresh_token: SecretStr | None = None
    hubspot_webhook_url: str | None = None

    # Which vendor plays each role, per legal entity, for sagas started from now on (settings.vendors_for); an
    # entity not listed gets today's estate with `crm`. JSON: {"DE01": {"billing": "chargebee", "erp": "xero"}}.
    # The sandbox default books UK01 in Xero (an acquired subsidiary keeping its own ERP); setting the variable
    # replaces the whole map.
    vendors_by_entity: dict[str, Vendors] = {"UK01": Vendors(erp="xero")}
    # An entity moving to another ERP on a cut-over date, optionally shadowed before it (docs/decisions.md, "Issue 15:
    # migration and shadow mode"). JSON: {"DE01": {"to": "xero", "cutover": "2027-01-01", "shadow": true}}.
    erp_migrations: dict[str, ErpMigration] = {}

    # Inbound CRM webhooks are signed with this shared secret
    crm_webhook_secret: SecretStr = SecretStr("whsec_crm_sandbox")
    # Salesforce Outbound Messages carry no signature: the listener takes only this org's (its id, 15 or 18 chars;
    # the sandbox org's by default). Production also restricts the endpoint to Salesforce's IP ranges over TLS.
    salesforce_org_id: str = "00D5g000000C2CSAND"

    # HTTP to vendors: must be shorter than the activities' start-to-close timeout (30 s)
    http_connect_timeout: float = 5.0
    http_timeout: float = 10.0

    # Per-vendor rate limits enforced by the Temporal server across all workers (activities/second)
    crm_rate_limit: float | None = None
    billing_rate_limit: float | None = None
    tax_rate_limit: float | None = None
    erp_rate_limit: float | None = None
    # Per-vendor request limits (issue 16), enforced before every HTTP request by every worker and the trigger API
    # through a shared bucket in the SQL store. JSON by vendor: {"stripe": {"requests_per_second": 25},
    # "netsuite": {"max_concurrency": 5}, "salesforce": {"daily_requests": 100000}}; unset: no limit.
    rate_limits: dict[str, VendorLimit] = {}
    # Activities one worker process runs at once per system queue (crm, billing, tax, erp, hub). Unset: sized from
    # the queue's tightest `rate_limits` rate so none waits at the limit long enough to be sent back (which spends one
    # of its attempts; connectors/limits.activity_slots), the SDK's 100 if none is set. JSON: {"tax": 8}; lower it
    # when several worker processes share a vendor's rate.
    activity_slots: dict[str, int] = {}
    # Workflows one worker process keeps in memory between their tasks (the SDK's max_cached_workflows). A workflow
    # not in the cache is rebuilt by replaying its history on its next task: ~12 ms of CPU here, against ~2 ms for a
    # cached one; a cached lifecycle holds ~0.15 MB (the sandbox's copy of its module). Size it above the work in
    # flight: a month-end backlog that keeps more in flight replays at every step (docs/benchmarks.md, 10,000 run).
    workflow_cache: int = Field(default=1000, ge=0, description="workflows kept in memory per worker process")

    # Invoice terms and dunning, for sagas started from now on: due date = issue + terms; an unpaid or failed
    # payment is retried (with a reminder) this many days after the first failure, then written off and parked.
    payment_terms_days: int = Field(default=3, ge=0, le=120)
    dunning_days: list[int] = [1, 3, 7]
    # At the end of its term a subscription renews for another term with the same lines and prices, or lapses
    # (a renewal won in the CRM renews it either way). For sagas started from now on.
    auto_renew: bool = False
    # An amendment's prorations (Stripe's, for the rest of the period): billed on the next period's invoice, or
    # `immediate`: at once on an invoice of their own when they net to a charge (a net credit waits for the next
    # invoice either way, as billing's customer balance would carry it). For sagas started from now on.
    prorations: ProrationBilling = ProrationBilling.NEXT_INVOICE

    # Observability (observability/): OTLP export only when an endpoint is set; Prometheus on the worker.
    otlp_endpoint: str | None = Field(default=None, description="e.g. http://otel-collector:4318 (OTLP/HTTP)")
    service_name: str = "c2c"
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="worker Prometheus endpoint; 0 = off")
    metrics_host: str = "127.0.0.1"
    log_format: str = Field(default="console", pattern="^(console|json)$", description="json in production")
    log_level: str = "INFO"

    # Reconciliation and the missed-trigger sweep (Temporal Schedules the worker keeps in place)
    reconcile_cron: str = Field(default="0 2 * * *", description="nightly reconciliation, UTC")
    sweep_interval_minutes: int = Field(default=15, ge=1, description="how often the CRM is asked for missed deals")
    # Revenue recognition (a Temporal Schedule per legal entity): each run recognizes the month before it.
    revenue_cron: str = Field(default="0 4 1 * *", description="monthly revenue recognition, UTC (the 1st, 04:00)")

    # The SQL store (golden customers, webhook dedupe, outbox, KPI facts)
    database_url: str = "sqlite:///var/c2c.db"

    # Trigger API. Finance endpoints need `Authorization: Bearer <token>` with the endpoint's scope. `api_token`
    # has every scope (the sandbox default: set a long random one anywhere else, or unset it); `api_tokens` adds
    # tokens with fewer, as JSON: [{"name": "finance-ui", "token": "...", "scopes": ["read", "codec"]}].
    api_host: str = "127.0.0.1"
    api_port: int = 8700
    api_token: SecretStr | None = SecretStr(SANDBOX_API_TOKEN)
    api_tokens: list[ApiToken] = []
    # Let the Temporal UI call /codec without a token (local sandbox only: whoever reaches it reads payloads).
    codec_anonymous: bool = False
    # Largest request body the API reads (webhooks, resolutions); larger ones get 413 before being read.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)  # access.DEFAULT_MAX_BODY_BYTES

    # Payload encryption (codec/): "id:base64key,…", first encrypts. Unset: read from payload_keys_file
    # (the demo writes one; a mounted secret in production); neither: payloads in plaintext.
    payload_keys: SecretStr | None = None
    payload_keys_file: str | None = "var/payload-keys"
    # Browser origins of the Temporal UI allowed to call the API's /codec endpoint
    ui_origins: list[str] = ["http://localhost:8233", "http://127.0.0.1:8233"]

    # Business events (issue 12): the outbox published to NATS JetStream (docs/events.md). Unset: the outbox
    # fills and nothing publishes it (a worker without a broker still runs every deal). A cluster: several URLs.
    nats_url: str | None = Field(default=None, description="e.g. nats://n1:4222,nats://n2:4222 (comma-separated)")
    nats_stream: str = Field(default="C2C_EVENTS", pattern=r"^[A-Za-z0-9_-]+$")
    nats_replicas: int = Field(default=1, ge=1, le=5, description="3 on a cluster")
    # JetStream drops a second message with the same Nats-Msg-Id (the event id) inside this window: longer than
    # any publisher outage we would republish across; consumers dedupe by event id beyond it.
    nats_duplicate_window_seconds: int = Field(default=24 * 3600, ge=1)
    nats_max_age_days: int = Field(default=90, ge=1, description="how long the stream keeps events (replay span)")
    outbox_poll_seconds: float = Field(default=1.0, gt=0, description="publisher's pause when the outbox is empty")
    outbox_lease_seconds: float = Field(default=15.0, gt=1, description="how long a dead publisher holds the lease")

    def unsafe_for(self, host: str) -> str | None:
        """Why the API must not listen on `host` with these settings (the sandbox's secrets are public)."""
        if host in ("127.0.0.1", "localhost", "::1"):
            return None
        public = {
            "C2C_API_TOKEN": self.api_token is not None and self.api_token.get_secret_value() == SANDBOX_API_TOKEN,
            "C2C_CRM_WEBHOOK_SECRET": self.crm_webhook_secret.get_secret_value() == "whsec_crm_sandbox",
            "C2C_STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret.get_secret_value() == "whsec_stripe_sandbox",
            "C2C_CHARGEBEE_WEBHOOK_PASSWORD": self.chargebee_webhook_password.get_secret_value()
            == "cb_webhook_sandbox",
            "C2C_HUBSPOT_CLIENT_SECRET": "hubspot" in self.every_crm()
            and self.hubspot_client_secret.get_secret_value() == "c2c-hubspot-secret",
        }
        sandbox = [name for name, is_default in public.items() if is_default]
        if sandbox:
            return f"{', '.join(sandbox)} still the sandbox default; set your own before listening on {host}"
        return None

    @model_validator(mode="after")
    def _known_activity_queues(self) -> Settings:
        """Slots for a queue no worker polls, or fewer than one, are refused at start-up (a typo would else leave the
        queue at the SDK's default unnoticed)."""
        for queue, slots in sorted(self.activity_slots.items()):
            if queue not in ACTIVITY_QUEUES:
                raise ValueError(f"C2C_ACTIVITY_SLOTS {queue!r}: no such queue (known: {', '.join(ACTIVITY_QUEUES)})")
            if slots < 1:
                raise ValueError(f"C2C_ACTIVITY_SLOTS {queue!r}: {slots} slots; at least 1")
        return self

    @model_validator(mode="after")
    def _known_migrations(self) -> Settings:
        """A migration of an entity we do not have, or to the ERP it already books in, is refused at start-up."""
        for entity, migration in sorted(self.erp_migrations.items()):
            if entity not in LEGAL_ENTITIES:
                raise ValueError(
                    f"C2C_ERP_MIGRATIONS {entity}: no such legal entity (known: {', '.join(LEGAL_ENTITIES)})"
                )
            if migration.to == self.erp_before_migration(entity):
                raise ValueError(f"C2C_ERP_MIGRATIONS {entity}: already books in {migration.to!r}")
            if migration.to == "xero" and entity not in self.xero_tenants:
                raise ValueError(f"C2C_ERP_MIGRATIONS {entity}: no Xero organisation for it in C2C_XERO_TENANTS")
        return self

    def erp_before_migration(self, legal_entity: str) -> str:
        """The ERP `legal_entity` books in as configured, before any migration: where its open items stay."""
        return (self.vendors_by_entity.get(legal_entity) or Vendors(crm=self.crm)).erp

    def vendors_for(self, legal_entity: str, on: date | None = None) -> Vendors:
        """Who plays crm, billing, tax and the ERP for `legal_entity` (what a saga's input carries); from a
        migration's cut-over (`on`: today, UTC) the ERP is the one it moves to."""
        vendors = self.vendors_by_entity.get(legal_entity) or Vendors(crm=self.crm)
        migration = self.erp_migrations.get(legal_entity)
        if migration is not None and (on or datetime.now(UTC).date()) >= migration.cutover:
            return vendors.model_copy(update={"erp": migration.to})
        return vendors

    def every_crm(self) -> list[str]:
        """The CRMs served (C2C_CRMS), the default C2C_CRM first; each one's webhook starts `c2c:{crm}:{deal}`."""
        listed = [name.strip() for name in (self.crms or "").split(",") if name.strip()]
        return [self.crm, *sorted(set(listed) - {self.crm})]

    def every_entitys_vendors(self) -> dict[str, Vendors]:
        """vendors_for each legal entity of the reference data and each one configured (the reconciler reads every
        ERP named here)."""
        return {
            entity: self.vendors_for(entity) for entity in sorted(set(LEGAL_ENTITIES) | set(self.vendors_by_entity))
        }

    def tokens(self) -> list[ApiToken]:
        """Every accepted API token; `api_token` counts as one with every scope."""
        extra = [ApiToken(name="api_token", token=self.api_token, scopes=set(Scope))] if self.api_token else []
        return [*extra, *self.api_tokens]

    def netsuite_private_key_pem(self) -> str | None:
        """The PEM private key NetSuite's client assertions are signed with, from the setting or its file."""
        if self.netsuite_private_key:
            return self.netsuite_private_key.get_secret_value()
        if self.netsuite_private_key_file and Path(self.netsuite_private_key_file).is_file():
            return Path(self.netsuite_private_key_file).read_text().strip() or None
        return None

    def encryption_keys(self) -> str | None:
        if self.payload_keys:
            return self.payload_keys.get_secret_value()
        if self.payload_keys_file and Path(self.payload_keys_file).is_file():
            return Path(self.payload_keys_file).read_text().strip() or None
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
