"""Webhooks' work for the worker (``app.worker`` assembles each part's): the fan-out of every
message an endpoint can subscribe to into deliveries. The deliveries themselves are sent by
:class:`app.integrations.webhooks.delivery.Deliverer`, in lanes of their own."""

from collections.abc import Mapping

from app.core.outbox import Subscriber
from app.integrations.webhooks import events, fanout

SUBSCRIBERS: Mapping[str, tuple[Subscriber, ...]] = {
    topic: (fanout.on_message,) for topic in events.TOPICS
}
