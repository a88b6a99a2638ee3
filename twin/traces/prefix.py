"""Prefix blocks of a trace's prompts: their token sizes, ids derived from sessions, and the reuse bound.

- Mooncake / Bailian `hash_ids` name fixed-size blocks (512 / 16 tokens); the last block
  holds the remainder of the prompt.
- RAGPulse `hash_ids` name prompt components (system prompt, passages, history, web
  search, user input) of at most 512 tokens; their token counts are in the lookup files
  beside the trace (`1_sys_prompt.jsonl` ...). Without them a prompt is split evenly.
- A trace with sessions and no block ids (BurstGPT v2, a mapped CSV): a follow-up turn's
  prompt starts with the previous turn's prompt, so it carries that prompt's full blocks
  (ids derived from the session) followed by blocks of its own. Only the earlier *prompt*
  is reused: the cache holds prompts' KV, not generated tokens.

`prefix_reuse` is the infinite-cache bound of `shared/traces/README.md`: in arrival order,
each prompt hits the leading run of its blocks already seen (as chained prefixes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from twin.serving.prefix_cache import chain_keys
from twin.serving.request import TraceRequest
from twin.traces.transforms import _with

DERIVED_BLOCK_TOKENS = 64  # block of a session-derived prefix: coarse enough to keep id lists short
RAGPULSE_LOOKUPS = (("1_sys_prompt.jsonl", "sys_prompt_id"), ("2_passages.jsonl", "passage_id"),
                    ("3_history.jsonl", "history_id"), ("4_user_input.jsonl", "user_input_id"),
                    ("5_web_search.jsonl", "web_search_id"))


def ragpulse_sizes(folder: Path) -> dict[int, int] | None:
    """Token count per RAGPulse component id from the lookup files in `folder`, or None if any is absent."""
    sizes: dict[int, int] = {}
    for name, key in RAGPULSE_LOOKUPS:
        path = folder / name
        if not path.is_file():
            return None
        with open(path, encoding="utf-8") as stream:
            for line in filter(str.strip, stream):
                record = json.loads(line)
                sizes[int(record[key])] = int(record["token_length"])
    return sizes


def with_prefix_blocks(requests: list[TraceRequest], block_tokens: int | None,
                       sizes_by_id: dict[int, int] | None = None) -> list[TraceRequest]:
    """Requests with block sizes filled in, and session-derived blocks where a trace has sessions only."""
    if not any(r.block_ids or r.session_id for r in requests):
        return requests
    if not any(r.block_ids for r in requests):
        return derive_session_blocks(requests)
    return [_with(r, block_sizes=block_sizes(r, block_tokens, sizes_by_id)) if r.block_ids and not r.block_sizes
            else r for r in requests]


def block_sizes(r: TraceRequest, block_tokens: int | None, sizes_by_id: dict[int, int] | None) -> tuple[int, ...]:
    n = len(r.block_ids)
    if sizes_by_id is not None and all(b in sizes_by_id for b in r.block_ids):
        return tuple(sizes_by_id[b] for b in r.block_ids)
    if block_tokens is None:  # even split of the prompt
        base, extra = divmod(r.input_tokens, n)
        return tuple(base + (i < extra) for i in range(n))
    last = max(1, r.input_tokens - block_tokens * (n - 1))
    return (block_tokens,) * (n - 1) + (min(last, block_tokens),)


def derive_session_blocks(requests: list[TraceRequest], size: int = DERIVED_BLOCK_TOKENS) -> list[TraceRequest]:
    """Each turn: the previous turn's full prompt blocks (when its prompt is at least that long), then its own."""
    previous: dict[str, tuple[int, ...]] = {}
    out = []
    for r in requests:
        if r.session_id is None:
            out.append(r)
            continue
        inherited = previous.get(r.session_id, ())[: r.input_tokens // size]
        full = r.input_tokens // size
        own = tuple(_derived_id(r.session_id, r.request_id, i) for i in range(len(inherited), full))
        ids = inherited + own
        previous[r.session_id] = ids
        rest = r.input_tokens - full * size
        sizes = (size,) * len(ids) + ((rest,) if rest else ())
        tail = (_derived_id(r.session_id, r.request_id, full),) if rest else ()
        out.append(_with(r, block_ids=ids + tail, block_sizes=sizes))
    return out


def _derived_id(session: str, request_id: int, index: int) -> int:
    digest = hashlib.blake2b(f"{session}/{request_id}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def prefix_reuse(requests: list[TraceRequest]) -> dict | None:
    """Share of blocks and of prompt tokens an infinite prefix cache would hit, or None without block ids."""
    if not any(r.block_ids for r in requests):
        return None
    seen: set[int] = set()
    hit_blocks = total_blocks = hit_tokens = prompt_tokens = 0
    for r in sorted(requests, key=lambda r: r.arrival_s):
        keys = chain_keys(r.block_ids)
        run = next((i for i, k in enumerate(keys) if k not in seen), len(keys))
        hit_blocks, total_blocks = hit_blocks + run, total_blocks + len(keys)
        hit_tokens += min(sum(r.block_sizes[:run]), r.input_tokens)
        prompt_tokens += r.input_tokens
        seen.update(keys)
    return {"blocks": total_blocks, "hit_blocks": hit_blocks, "block_hit_rate": hit_blocks / total_blocks,
            "prompt_tokens": prompt_tokens, "hit_tokens": hit_tokens, "token_hit_rate": hit_tokens / prompt_tokens}
