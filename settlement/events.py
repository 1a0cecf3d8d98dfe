"""Work settlement records for itself through the outbox (core/outbox.py), like registry and
claims do for settlement: a batch run created in a transaction is started after it commits,
or by the next sweep when the broker was down. Keeps services.py from importing tasks.py."""

from core.outbox import outbox_record

# Key "run id"; payload {"run_id": int}.
RUN_STARTED = "settlement.run_started"


def record_run_started(*, run_id: int) -> None:
    outbox_record(topic=RUN_STARTED, key=str(run_id), payload={"run_id": run_id})
