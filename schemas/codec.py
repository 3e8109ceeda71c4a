"""Strict decoding of JSON objects into frozen dataclasses, and JSON Schema from the same types.

A message type is a frozen dataclass whose fields are ``str``, ``int``, ``bool``, ``float``,
``Literal[...]``, ``X | None``, ``tuple[X, ...]`` or another message dataclass, with limits given by
:func:`limit` in the field metadata. One description drives both validation and the published
JSON Schema, so the two cannot drift apart. Decoding is strict: no coercion (``"1"`` is not an
int, ``true`` is not an int), unknown fields are refused, every error names its dotted field path.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar, cast

import orjson

from schemas.errors import FrameError, ValidationError

T = TypeVar("T")

_LIMIT_KEY = "schema_limit"


@dataclasses.dataclass(frozen=True)
class Limit:
    """Bounds for one field: inclusive numeric range, string/tuple length, regex, docs."""

    ge: float | None = None
    le: float | None = None
    min_len: int | None = None
    max_len: int | None = None
    pattern: str | None = None
    doc: str = ""


def limit(
    *,
    ge: float | None = None,
    le: float | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    pattern: str | None = None,
    doc: str = "",
) -> dict[str, Limit]:
    """Field metadata: ``x: int = field(metadata=limit(ge=0))``."""
    return {_LIMIT_KEY: Limit(ge, le, min_len, max_len, pattern, doc)}


def _limit_of(field: dataclasses.Field[Any]) -> Limit:
    found = field.metadata.get(_LIMIT_KEY)
    return found if isinstance(found, Limit) else Limit()


Decoder = Callable[[Any, str], Any]


def _path(base: str, name: str | int) -> str:
    return f"{base}.{name}" if base else str(name)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check_limit(value: Any, lim: Limit, where: str) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if lim.ge is not None and value < lim.ge:
            raise ValidationError(f"must be >= {lim.ge:g}, got {value}", where)
        if lim.le is not None and value > lim.le:
            raise ValidationError(f"must be <= {lim.le:g}, got {value}", where)
    if isinstance(value, (str, tuple)):
        unit = "characters" if isinstance(value, str) else "items"
        if lim.min_len is not None and len(value) < lim.min_len:
            raise ValidationError(f"must have at least {lim.min_len} {unit}, got {len(value)}", where)
        if lim.max_len is not None and len(value) > lim.max_len:
            raise ValidationError(f"must have at most {lim.max_len} {unit}, got {len(value)}", where)
    if lim.pattern is not None and isinstance(value, str) and not re.fullmatch(lim.pattern, value):
        raise ValidationError(f"must match {lim.pattern}", where)


def _scalar(expected: type, name: str) -> Decoder:
    def decode(value: Any, where: str) -> Any:
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ValidationError(f"expected {name}, got {_type_name(value)}", where)
        return value

    return decode


@functools.cache
def decoder_for(tp: Any) -> Decoder:
    """Build (once per type) a function ``(json_value, field_path) -> typed value``."""
    origin = typing.get_origin(tp)
    if tp is str:
        return _scalar(str, "string")
    if tp is bool:
        return _scalar(bool, "boolean")
    if tp is int:
        return _scalar(int, "integer")
    if tp is float:
        return _scalar(float, "number")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)

        def decode_literal(value: Any, where: str) -> Any:
            if not isinstance(value, str | int) or isinstance(value, bool) or value not in allowed:
                options = ", ".join(repr(a) for a in allowed)
                raise ValidationError(f"must be one of {options}, got {value!r}", where)
            return value

        return decode_literal
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) > 1:
            return tagged_union_decoder(tuple(args))
        inner = decoder_for(args[0])
        return lambda value, where: None if value is None else inner(value, where)
    if origin is tuple:
        item_type, ellipsis = typing.get_args(tp)
        assert ellipsis is Ellipsis, f"only tuple[X, ...] is supported, got {tp}"
        item = decoder_for(item_type)

        def decode_tuple(value: Any, where: str) -> Any:
            if not isinstance(value, list):
                raise ValidationError(f"expected array, got {_type_name(value)}", where)
            return tuple(item(v, _path(where, i)) for i, v in enumerate(value))

        return decode_tuple
    if dataclasses.is_dataclass(tp):
        return _object_decoder(tp)
    raise TypeError(f"unsupported field type {tp}")


def type_tag(cls: Any) -> str:
    """The ``type`` discriminator of a message dataclass (its field's default)."""
    tag = {f.name: f.default for f in dataclasses.fields(cls)}.get("type")
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__name__} has no str default for its 'type' field")
    return tag


@functools.cache
def tagged_union_decoder(classes: tuple[Any, ...]) -> Decoder:
    """Decode an object into whichever of ``classes`` its ``type`` field names."""
    table = {type_tag(cls): decoder_for(cls) for cls in classes}
    expected = ", ".join(sorted(table))

    def decode_union(value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise ValidationError(f"expected object, got {_type_name(value)}", where or None)
        if "type" not in value:
            raise ValidationError("required field is missing", _path(where, "type"),
                                  code="missing_field")
        kind = value["type"]
        decode = table.get(kind) if isinstance(kind, str) else None
        if decode is None:
            raise ValidationError(f"unknown message type {kind!r}; expected one of {expected}",
                                  _path(where, "type"), code="unknown_type")
        return decode(value, where)

    return decode_union


def _object_decoder(cls: Any) -> Decoder:
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    plan = [
        (
            f.name,
            decoder_for(hints[f.name]),
            _limit_of(f),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in fields
    ]
    known = {f.name for f in fields} | set(getattr(cls, "EXTRA_KEYS", ()))

    def decode_object(value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise ValidationError(f"expected object, got {_type_name(value)}", where or None)
        for key in value:
            if key not in known:
                raise ValidationError("unknown field", _path(where, key), code="unknown_field")
        kwargs: dict[str, Any] = {}
        for name, decode, lim, required in plan:
            if name not in value:
                if required:
                    raise ValidationError("required field is missing", _path(where, name),
                                          code="missing_field")
                continue
            where_field = _path(where, name)
            decoded = decode(value[name], where_field)
            if decoded is not None:
                _check_limit(decoded, lim, where_field)
            kwargs[name] = decoded
        return cls(**kwargs)

    return decode_object


def decode_as(cls: type[T], value: Any, where: str = "") -> T:
    """Validate a parsed JSON value as ``cls``."""
    result: T = decoder_for(cast(Hashable, cls))(value, where)
    return result


def parse_json(data: bytes | str, unique_keys: bool = True) -> Any:
    """Parse one frame; anything but valid UTF-8 JSON is a :class:`FrameError`, and so is an
    object that repeats a key (parsers disagree on which one wins: two components could read
    one frame differently). ``unique_keys=False`` skips that second parse for values only our
    own encoder can have written (sealed records: the key authenticates the writer)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise FrameError("bad_json", f"frame is not valid JSON: {error}") from None
    if unique_keys and isinstance(value, dict | list):
        json.loads(data, object_pairs_hook=_unique_keys)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise FrameError("bad_json", f"frame repeats the key {key[:40]!r}; each key "
                                 "may appear once per object")
            seen.add(key)
    return result


def to_jsonable(message: Any) -> Any:
    """Dataclass -> plain dict, dropping ``None`` optionals so frames stay small (a required
    field that may be null is written as null: its absence would be an error)."""
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(message):
            v = getattr(message, f.name)
            if v is not None or f.default is dataclasses.MISSING:
                out[f.name] = to_jsonable(v)
        return out
    if isinstance(message, tuple):
        return [to_jsonable(v) for v in message]
    return message


def encode(message: Any) -> bytes:
    return orjson.dumps(to_jsonable(message))


# --- JSON Schema -------------------------------------------------------------------------------


def json_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema (2020-12) of ``tp``; dataclasses go into ``defs`` and are referenced."""
    origin = typing.get_origin(tp)
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if tp in simple:
        return {"type": simple[tp]}
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) > 1:
            return {"oneOf": [json_schema(a, defs) for a in args]}
        return {"anyOf": [json_schema(args[0], defs), {"type": "null"}]}
    if origin is tuple:
        return {"type": "array", "items": json_schema(typing.get_args(tp)[0], defs)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"unsupported field type {tp}")


def _object_schema(cls: Any, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        schema = json_schema(hints[f.name], defs)
        lim = _limit_of(f)
        target = schema["anyOf"][0] if "anyOf" in schema else schema
        if lim.ge is not None:
            target["minimum"] = lim.ge
        if lim.le is not None:
            target["maximum"] = lim.le
        length = ("minLength", "maxLength") if target.get("type") == "string" else (
            "minItems", "maxItems")
        if lim.min_len is not None:
            target[length[0]] = lim.min_len
        if lim.max_len is not None:
            target[length[1]] = lim.max_len
        if lim.pattern is not None:
            target["pattern"] = lim.pattern
        if lim.doc:
            schema["description"] = lim.doc
        props[f.name] = schema
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default or f.name == "type":
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "required": required,
                           "additionalProperties": False}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    return out


def schema_document(title: str, roots: Mapping[str, Any]) -> dict[str, Any]:
    """One JSON Schema document with one named definition per root type (or union)."""
    defs: dict[str, Any] = {}
    root_schemas = {name: json_schema(tp, defs) for name, tp in roots.items()}
    # A root named as its dataclass is that definition, not a reference to itself (which
    # would send a validator that follows it round for ever).
    root_schemas = {name: schema for name, schema in root_schemas.items()
                    if schema != {"$ref": f"#/$defs/{name}"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "$defs": {**{k: defs[k] for k in sorted(defs)}, **root_schemas},
    }
