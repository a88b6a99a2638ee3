"""Scheduling policies as pure functions of queues and KV state: no SimPy involved."""

from __future__ import annotations

from twin.config import ServingConfig
from twin.serving.kv_cache import KvCache
from twin.serving.request import Request, RequestState, TraceRequest
from twin.serving.scheduler import ReplicaQueues, make_scheduler


def make(policy: str, blocks: int = 10_000, max_batch: int = 8, chunk: int = 512):
    kv = KvCache(blocks, 16, 1.0)
    sched = make_scheduler(ServingConfig(policy=policy, max_batch=max_batch, chunk_tokens=chunk), kv, 4096)
    return sched, kv, ReplicaQueues(kv=kv)


def req(i: int, inp: int = 100, out: int = 10) -> Request:
    return Request(TraceRequest(i, float(i), inp, out))


def decoding(q: ReplicaQueues, kv: KvCache, r: Request, generated: int = 1) -> Request:
    r.prefilled, r.generated = r.spec.input_tokens, generated
    kv.grow(r.id, r.context - 1)
    q.running[r.id] = r
    q.start_decoding(r)
    return r


def test_prefill_first_admits_up_to_the_batch_cap_and_pauses_decodes():
    sched, kv, q = make("prefill-first", max_batch=4)
    running = decoding(q, kv, req(0))
    q.waiting.extend(req(i) for i in range(1, 10))
    d = sched.plan(q)
    assert [r.id for r, _ in d.prefill] == [1, 2, 3]  # 3 slots left beside the running one
    assert d.decode == 0 and running not in d.preempt


def test_decode_first_waits_for_the_batch_to_drain():
    sched, kv, q = make("decode-first")
    running = decoding(q, kv, req(0))
    q.waiting.append(req(1))
    d = sched.plan(q)
    assert d.prefill == [] and d.decode == 1 and not d.preempt
    q.remove(running)
    kv.release(0)
    assert [r.id for r, _ in sched.plan(q).prefill] == [1]


def test_chunked_prefill_splits_prompts_within_the_token_budget():
    sched, kv, q = make("chunked", chunk=256)
    running = decoding(q, kv, req(0))
    q.waiting.extend([req(1, inp=600), req(2, inp=50)])
    d = sched.plan(q)
    assert d.decode == 1 and running.state is RequestState.DECODING
    assert [(r.id, take) for r, take in d.prefill] == [(1, 255)]  # 256 minus the decode's token


def test_kv_admission_refuses_what_does_not_fit():
    sched, kv, q = make("prefill-first", blocks=20)
    q.waiting.append(req(1, inp=400))  # 25 blocks
    assert sched.plan(q).idle


def test_preemption_takes_the_newest_request_first():
    sched, kv, q = make("prefill-first", blocks=14)
    _, new = decoding(q, kv, req(0, inp=96), 17), decoding(q, kv, req(1, inp=96), 17)
    assert kv.free == 0 and kv.need(1) == 2  # KV of 112 tokens fills 7 blocks each: the next token needs an 8th
    d = sched.plan(q)
    assert d.preempt == [new]
    assert d.decode == 1
