"""The shape checks shared by the two action lists: ``vfiolab simulate``
(the model) and the guest runner (:mod:`vfiolab.real.guestcap`, real QEMU/KVM).

Both take a JSON list of objects with an ``op``; each checker here raises
:class:`~vfiolab.errors.ActionError` naming the action's index, the field
and the op, so a bad list never gets as far as the model or QEMU.  What
each list allows on top (the guest's 4-byte alignment, the model's ``dma``)
stays with its validator.
"""

from __future__ import annotations

from typing import Iterator

from ..addr import parse_addr
from ..errors import ActionError, SizeError

__all__ = ["each_action", "address_field", "int_field", "choice_field", "bdf_field"]


def each_action(actions, ops: dict[str, tuple[str, ...]]) -> Iterator[tuple[int, str, dict]]:
    """Yield ``(index, op, copy)`` for a list of objects whose ``op`` is in
    ``ops`` and which carry that op's required fields."""
    if not isinstance(actions, list):
        raise ActionError(None, "actions", "must be a JSON list of objects")
    for i, act in enumerate(actions):
        if not isinstance(act, dict):
            raise ActionError(i, "action", f"must be an object, not {type(act).__name__}")
        op = act.get("op")
        if op not in ops:
            raise ActionError(i, "op", f"unknown op {op!r}; supported: {', '.join(ops)}")
        for key in ops[op]:
            if key not in act:
                raise ActionError(i, key, "missing", op)
        yield i, op, dict(act)


def address_field(i: int, act: dict, key: str, op: str) -> int:
    """An address given as an integer or as text ("0xfebf0000", "4G")."""
    try:
        return parse_addr(act[key])
    except SizeError as e:
        raise ActionError(i, key, str(e), op) from None


def int_field(i: int, act: dict, key: str, op: str, lo: int, hi: int) -> int:
    """An integer (or hex/size text) within ``lo..hi``; booleans refused."""
    v = act[key]
    if isinstance(v, str):
        try:
            v = parse_addr(v)
        except SizeError as e:
            raise ActionError(i, key, str(e), op) from None
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ActionError(i, key, f"{act[key]!r} is not an integer in {lo:#x}..{hi:#x}", op)
    return v


def choice_field(i: int, act: dict, key: str, op: str, allowed: tuple[str, ...],
                 default: str, hint: str) -> str:
    """One of ``allowed`` (``default`` when absent); ``hint`` ends the error."""
    v = act.get(key, default)
    if v not in allowed:
        raise ActionError(i, key, f"{v!r}: {hint}", op)
    return v


def bdf_field(i: int, act: dict, op: str) -> tuple[int, int, int]:
    """(bus, slot, function) from ``"00:02.0"`` or ``"0000:00:02.0"``."""
    from ..model.guest import parse_bdf
    try:
        return parse_bdf(str(act["bdf"]))
    except ActionError as e:
        raise ActionError(i, "bdf", e.why, op) from None
