"""Operators' view of the messages a service parked: list them, replay them.

    python -m shared.dead_letters list notifications
    python -m shared.dead_letters replay notifications --all
    python -m shared.dead_letters replay notifications --event-id 0b6f...

(``make dead-letters SERVICE=notifications``, ``make replay SERVICE=... [EVENT_ID=...]``.)
A message lands in ``<service>.dead-letter`` after its handler failed on every retry,
or at once when it is malformed; its headers say why. Once the cause is fixed,
``replay`` sends it back to the queue it came from with a fresh retry budget; the
handler's idempotence makes a replay of something already applied harmless.
``AMQP_URI`` (or config.yml's default) names the broker.
"""
import argparse
import json
import sys

from amqp.exceptions import NotFound
from kombu import Connection
from kombu.messaging import Producer

from shared.config import load_config
from shared.handlers import (
    ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, ORIGINAL_QUEUE_HEADER,
    dead_letter_queue_name,
)

DROPPED_ON_REPLAY = (ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, "x-death")


def _summary(message):
    headers = dict(message.headers or {})
    try:
        body = json.loads(message.body)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return {"event_id": body.get("event_id"), "event_type": body.get("event_type"),
            "queue": headers.get(ORIGINAL_QUEUE_HEADER), "attempts": headers.get(ATTEMPTS_HEADER),
            "failed_at": headers.get(FAILED_AT_HEADER), "error": headers.get(ERROR_HEADER)}


def parked_count(uri, service, connect_timeout=3):
    """How many messages are parked for ``service``; None when it has no dead-letter
    queue (a service that handles no messages). Read from the broker, so it also works
    while the service is down."""
    with Connection(uri, connect_timeout=connect_timeout) as connection:
        try:
            return connection.default_channel.queue_declare(
                dead_letter_queue_name(service), passive=True).message_count
        except NotFound:
            return None


def list_parked(uri, service, limit=1000):
    """The parked messages, oldest first; they stay parked."""
    with Connection(uri) as connection:
        channel = connection.channel()  # closed below: what it took goes back, in order
        try:
            parked = []
            while len(parked) < limit:
                message = channel.basic_get(dead_letter_queue_name(service), no_ack=False)
                if message is None:
                    break
                parked.append(_summary(message))
            return parked
        finally:
            channel.close()


def replay(uri, service, event_id=None):
    """Send parked messages (all, or those of one event_id) back to their queues."""
    replayed = 0
    with Connection(uri) as connection:
        channel = connection.channel()
        producer = Producer(connection.channel())
        try:
            while True:
                message = channel.basic_get(dead_letter_queue_name(service), no_ack=False)
                if message is None:
                    break
                summary = _summary(message)
                if event_id is not None and summary["event_id"] != event_id \
                        or not summary["queue"]:
                    continue  # left parked: the channel's close gives it back
                headers = {key: value for key, value in (message.headers or {}).items()
                           if key not in DROPPED_ON_REPLAY}
                producer.publish(message.body, exchange="", routing_key=summary["queue"],
                                 headers=headers, content_type=message.content_type,
                                 content_encoding=message.content_encoding,
                                 delivery_mode=2, retry=True)
                channel.basic_ack(message.delivery_tag)
                replayed += 1
        finally:
            channel.close()
            producer.channel.close()
    return replayed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shared.dead_letters",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("list", help="show the parked messages")
    show.add_argument("service")
    again = commands.add_parser("replay", help="send parked messages back to be handled")
    again.add_argument("service")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true")
    which.add_argument("--event-id")
    args = parser.parse_args(argv)
    from shared.settings import Settings

    uri = Settings.from_config(load_config()).AMQP_URI
    if args.command == "list":
        parked = list_parked(uri, args.service)
        for item in parked:
            print(json.dumps(item, ensure_ascii=False, default=str))
        print(f"{len(parked)} message(s) parked in {dead_letter_queue_name(args.service)}")
    else:
        count = replay(uri, args.service, None if args.all else args.event_id)
        print(f"replayed {count} message(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
