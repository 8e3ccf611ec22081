"""Hypothesis strategies that mutate real text: the fuzzing used by the
parser tests (lines deleted, duplicated or swapped; characters flipped,
inserted or deleted; truncation; one hex digit changed)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: characters that matter to QEMU's and lspci's formats, plus anything at all
CHARS = st.one_of(st.sampled_from(list("0123456789abcdefx #@:.,-+[](){}\"'=KMGT\r\n\t")),
                  st.characters())
OPS = ("del_line", "dup_line", "swap_lines", "flip", "insert", "del_char", "truncate", "digit")

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw, texts: dict[str, str], ops=OPS) -> str:
    """One of ``texts`` with 1-4 random edits from ``ops``."""
    text = texts[draw(st.sampled_from(sorted(texts)))]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(ops))
        if op in ("del_line", "dup_line", "swap_lines"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "del_line":
                del lines[i]
            elif op == "dup_line":
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
        elif op == "digit":
            # change one hex digit: addresses, sizes, offsets, counts
            spots = [k for k, ch in enumerate(text) if ch in "0123456789abcdef"]
            if spots:
                k = draw(st.sampled_from(spots))
                text = text[:k] + draw(st.sampled_from("0123456789abcdef")) + text[k + 1:]
        else:
            pos = draw(st.integers(0, max(len(text) - 1, 0)))
            if op == "flip" and text:
                text = text[:pos] + draw(CHARS) + text[pos + 1:]
            elif op == "insert":
                text = text[:pos] + draw(CHARS) + text[pos:]
            elif op == "del_char":
                text = text[:pos] + text[pos + 1:]
    return text
