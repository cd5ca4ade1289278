"""Business events on NATS JetStream: subjects, the CloudEvents NATS binding, the stream (docs/events.md)."""

from broker.cloudevents import from_message, to_message
from broker.jetstream import BrokerUnavailable, EventBroker, Published, StreamedEvent, StreamSpec
from broker.subjects import ALL_EVENTS, PREFIX, deal_filter, subject_for, token, type_filter

__all__ = [
    "ALL_EVENTS",
    "PREFIX",
    "BrokerUnavailable",
    "EventBroker",
    "Published",
    "StreamSpec",
    "StreamedEvent",
    "deal_filter",
    "from_message",
    "subject_for",
    "to_message",
    "token",
    "type_filter",
]
