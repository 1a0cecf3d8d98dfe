"""How every Celery task of the project retries: the errors that mean a service was briefly out
of reach (``TRANSIENT_ERRORS``) and the options of a retried task (``RETRIED``). The Celery app
itself is the project's (``healthaid/celery.py``); tasks are ``shared_task`` so no app imports it."""

from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Errors that mean a service was briefly out of reach, not that the task is wrong, so the task
# is retried (tests/faults exercises the database and Redis ones):
# * OperationalError: the database connection was lost (a PostgreSQL restart or failover, an
#   administrator's pg_terminate_backend, a deadlock); InterfaceError: Django used a
#   connection that is already closed. Celery's Django fix-up closes the task's connections
#   after every task, so the retry gets a fresh one. (core/bulk.py's COPY, a psycopg2
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
