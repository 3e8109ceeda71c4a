"""The machine-readable protocol description for plugin authors and topic consumers.

Generated from the message types themselves; ``python -m schemas`` rewrites the checked-in
``schemas/protocol.schema.json`` and a test fails when it is stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schemas.codec import schema_document
from schemas.socket import PROTOCOL_VERSION, ClientMessage, ServerMessage
from schemas.topics import EditorEvent, FeedbackEvent, Reply, UsageRecord

SCHEMA_PATH = Path(__file__).with_name("protocol.schema.json")


def protocol_schema() -> dict[str, Any]:
    doc = schema_document(
        f"Code assistant protocol v{PROTOCOL_VERSION}: WebSocket frames and Kafka records",
        {
            "ClientMessage": ClientMessage,
            "ServerMessage": ServerMessage,
            "EditorEvent": EditorEvent,
            "Reply": Reply,
            "FeedbackEvent": FeedbackEvent,
            "UsageRecord": UsageRecord,
        },
    )
    return doc


def render() -> bytes:
    return orjson.dumps(protocol_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
