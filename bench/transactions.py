"""Kafka transactions against our own bookkeeping, for the usage stream's step.

``python -m bench.transactions [--steps 200] [--records 1,10,100]`` starts a private broker
and times the usage stream's consume-process-produce step both ways, on the same broker in the
same run:

- ``ours`` (what ``analytics.usage`` does): send the step's records with the idempotent
  producer, flush, then commit the input offsets (at-least-once; a replay after a crash emits the
  same record ids, which readers keep once);
- ``transactional``: ``begin``, send the records, ``send_offsets_to_transaction``, ``commit``
  (exactly-once inside Kafka; readers must use ``read_committed``).

It prints each step's p50 / p99 in ms and records per second.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bench.measure import percentile
from config.settings import Settings
from infra.processes import Supervisor
from infra.stack import broker_spec, private_settings
from streams.kafka import TopicSpec, ensure_topics, make_producer, wait_for_broker


async def measure(settings: Settings, steps: int, records: int) -> dict[str, list[float]]:
    run = uuid.uuid4().hex[:6]
    source, sink = f"tx-in-{run}", f"tx-out-{run}"
    await ensure_topics(settings, [TopicSpec(source, 1, 3_600_000), TopicSpec(sink, 1, 3_600_000)])
    consumer = AIOKafkaConsumer(source, bootstrap_servers=settings.bootstrap,
                                group_id=f"tx-{run}", enable_auto_commit=False)
    await consumer.start()
    plain = make_producer(settings)
    transactional = AIOKafkaProducer(bootstrap_servers=settings.bootstrap,
                                     transactional_id=f"tx-{run}", linger_ms=0)
    await plain.start()
    await transactional.start()
    times: dict[str, list[float]] = {"ours": [], "transactional": []}
    tp = TopicPartition(source, 0)
    value = b'{"v":1,"record_id":"' + b"0" * 32 + b'"}'
    try:
        for n in range(steps):
            offsets = {tp: OffsetAndMetadata(n + 1, "")}
            started = time.perf_counter()
            for _ in range(records):
                await plain.send(sink, value, key=b"t/u")
            await plain.flush()
            await consumer.commit(offsets)
            times["ours"].append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            async with transactional.transaction():
                for _ in range(records):
                    await transactional.send(sink, value, key=b"t/u")
                await transactional.send_offsets_to_transaction(offsets, f"tx-{run}")
            times["transactional"].append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
        await plain.stop()
        await transactional.stop()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transactions")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--records", default="1,10,100")
    args = parser.parse_args()
    settings = private_settings("transactions")
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    try:
        supervisor.start(broker_spec(settings, 0), 60)
        asyncio.run(wait_for_broker(settings, 60))
        print(f"{'records/step':>12} {'way':>14} {'p50 ms':>7} {'p99 ms':>7} {'records/s':>9}")
        for records in (int(r) for r in args.records.split(",")):
            times = asyncio.run(measure(settings, args.steps, records))
            for way, samples in times.items():
                rate = records * len(samples) / (sum(samples) / 1000)
                print(f"{records:12d} {way:>14} {percentile(samples, 0.5):7.2f} "
                      f"{percentile(samples, 0.99):7.2f} {rate:9.0f}")
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
