import os

from celery import Celery
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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

# Errors that mean a service was briefly out of reach, not that the task is wrong, so the task
# is retried (tests/faults exercises the database and Redis ones):
# * OperationalError: the database connection was lost (a PostgreSQL restart or failover, an
#   administrator's pg_terminate_backend, a deadlock); InterfaceError: Django used a
#   connection that is already closed. Celery's Django fix-up closes the task's connections
#   after every task, so the retry gets a fresh one. (healthaid/bulk.py's COPY, a psycopg2
#   method Django does not wrap, converts its errors to Django's itself.)
# * Redis errors: the cache (task progress) lives on Redis; a Redis restart during a roster
#   import makes its progress write fail.
# * BrokerError: a task that queues others (start_run) found the broker down.
# Every service these tasks call does its work in one transaction and skips what is already
# done, so an error rolls the attempt back whole and a retry starts clean.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, BrokerError)

# How a retry's message is published. When Redis itself is down the default policy (3 tries in
# 0.6 s) gives up, Celery then rejects the task and the job is left half-way for ever (a
# roster stays 正在导入 with nothing imported). Retrying the publish for about 5 minutes
# carries a task across a Redis restart; this blocks only the pool process of the failed task,
# which could not do anything without Redis anyway. Web requests keep the default policy.
RETRY_PUBLISH_POLICY = {"max_retries": 60, "interval_start": 1, "interval_step": 1, "interval_max": 5}

# The options of every retried task: ``@shared_task(bind=True, **RETRIED)``.
RETRIED = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "max_retries": 5,
    "retry_kwargs": {"retry_policy": RETRY_PUBLISH_POLICY},
}
