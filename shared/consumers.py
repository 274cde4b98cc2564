"""The queue consumer behind our RPC and event-handler entrypoints.

kombu's default for a message whose body cannot be decoded (not JSON, or nested too
deeply for Python's decoder) logs the whole body, personal data included, and acks
it: an RPC caller waits for its timeout and an event is silently lost. Here the
message goes to the entrypoint it was meant for, which answers the caller with a
``ValidationError`` (RPC) or parks the message in the dead-letter queue (events); the
log gets one line without the body.
"""
import logging

from nameko.messaging import QueueConsumer

log = logging.getLogger(__name__)


class SafeQueueConsumer(QueueConsumer):
    def on_decode_error(self, message, exc):
        provider = self._provider_of(message)
        queue = getattr(getattr(provider, "queue", None), "name", "?")
        log.warning("undecodable message on %s (%s, %d bytes, %s)", queue, type(exc).__name__,
                    len(message.body or b""), message.content_type)
        handler = getattr(provider, "on_undecodable", None)
        try:
            if handler is None:
                message.ack()
            else:
                handler(message, exc)
        except Exception:
            log.exception("could not hand over an undecodable message from %s; it is "
                          "requeued", queue)
            message.requeue()

    def _provider_of(self, message):
        tag = (message.delivery_info or {}).get("consumer_tag")
        for provider, consumer in list(self._consumers.items()):
            if tag in getattr(consumer, "_active_tags", {}).values():
                return provider
        return None
