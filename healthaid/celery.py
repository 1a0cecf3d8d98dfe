import os

from celery import Celery
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthaid.settings")


def _dead_channel_is_a_connection_error() -> None:
    """Keep a worker alive through a Redis restart (tests/faults proves it).

    With Celery 5.7.0 / kombu 5.7.0, when a worker loses the broker while a task is running, the
    consumer first collects the broken connection (which drops its transport's ``client``) and
    then closes it; closing the Redis channel tries to put the running tasks' messages back on
    the queue, and building a Redis client from the dropped ``client`` raises AttributeError.
    That is not one of the transport's connection errors, so the worker dies ("Unrecoverable
    error: 'NoneType' object has no attribute 'hostname'") and kills its running tasks; the
    acknowledgement of such a task, when it ends, goes through the same dead channel.
    Raising Redis's ConnectionError there instead lets the usual handling work: the close and
    the acknowledgement are given up (a task left unacknowledged is redelivered after the
    visibility timeout, and every task is idempotent), the worker reconnects and goes on.
    Remove once kombu no longer builds clients from a collected connection."""
    original = kombu_redis.Channel._connparams
    if getattr(original, "healthaid_patched", False):
        return

    def _connparams(self, *args, **kwargs):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        return original(self, *args, **kwargs)

    _connparams.healthaid_patched = True
    kombu_redis.Channel._connparams = _connparams


_dead_channel_is_a_connection_error()

app = Celery("healthaid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The retry policy every task uses lives in core/retry.py (RETRIED, TRANSIENT_ERRORS).
