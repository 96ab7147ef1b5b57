"""``io.streamflow.detector.PyFormat`` against Python's own ``format()``, ``repr()`` and ``float.hex()``.

One JVM (``tools.FormatCheck``) formats every value; each result must equal Python's character for character.
Values: random bit patterns (every magnitude, subnormals, NaN payloads, infinities), short decimals (the ties
``.5``, ``.125``, ``.x5`` that a half-up formatter gets wrong), values just around powers of two and ten, and
hand-picked edges (negative zero, values that round to zero with a sign, the largest and smallest doubles).
"""

from __future__ import annotations

import json
import math
import random
import struct
import sys
from typing import Any, Final

from fraud_jobs.flink.jvm import java_main

_MAIN: Final = "io.streamflow.detector.tools.FormatCheck"
_SEED: Final = 20261205

_EDGES: Final = [
    0.0, -0.0, 0.5, -0.5, 1.5, 2.5, 0.125, 0.375, 2.675, 1.005, 0.045, -0.4, -0.04, -0.004, 0.0005,
    0.00049999999999999999, 1e-4, 9.99995e-5, 1e-5, 0.0001, 0.00001, 123456.5, 999999.5, 999995.0,
    9999995.0, 1234565.0, 100000.0, 1e6, 1e16, 1e15, 9999999999999998.0, 1e22, 1e23, 1e300, -1e300,
    sys.float_info.max, -sys.float_info.max, sys.float_info.min, 5e-324, -5e-324, 2.2250738585072009e-308,
    math.inf, -math.inf, math.nan, -math.nan, 600.0 / 60, 2419200.0 / 86400, 0.02, 0.1 + 0.2, 1 / 3,
    2.0**53, 2.0**53 + 2.0, 2.0**63, 2.0**1023, 0.999999, 0.9999995, 0.99999949999, 9.5, 10.5, 99.95,
    0.0049999, 0.005, 0.015, 0.025, 0.0125, 0.00125,
]  # fmt: skip


def _values() -> list[float]:
    rng = random.Random(_SEED)
    values = list(_EDGES)
    for _ in range(3000):  # every bit pattern: all exponents, subnormals, NaN payloads
        values.append(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
    for _ in range(2000):  # short decimals near the rounding digit, many of them exact binary ties
        digits, scale = rng.randrange(0, 10**6), rng.randrange(-3, 9)
        values.append(rng.choice((1, -1)) * digits / 10**scale)
        values.append(rng.randrange(-(2**20), 2**20) / 2 ** rng.randrange(0, 12))
    for exp in range(-30, 30):  # around powers of ten and two
        for base in (10.0**exp, 2.0**exp):
            values += [base, math.nextafter(base, 0.0), math.nextafter(base, math.inf)]
    return values


def _strings() -> list[str]:
    rng = random.Random(_SEED)
    alphabet = (
        [chr(c) for c in range(0x00, 0x100)]
        + list("\u0100\u0394\u4e2d\u20ac\u2028\u2029\u200b\u3000\ue000\ufeff\ud800\udfff")
        + ["\U0001f600", "\U00010348", "\U000f0000"]
    )
    strings = ["", "'", '"', "'\"", "FR-001", "FR-999", "a\\b", "tab\there", "\x7f", "\x80\xa0\xad"]
    for _ in range(1500):
        strings.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))))
    # a high surrogate followed by a low one is one character in Java (and in any str Python decodes)
    return [s for s in strings if "\ud800\udfff" not in s]


def _run(calls: list[list[Any]]) -> list[str]:
    stdin = "".join(json.dumps(call) + "\n" for call in calls).encode()
    out = java_main(_MAIN, stdin=stdin).decode().split("\n")[:-1]
    assert len(out) == len(calls)
    return [json.loads(line) for line in out]


def test_floats_format_as_python_formats_them() -> None:
    calls: list[list[Any]] = []
    expected: list[str] = []
    for x in _values():
        h = x.hex()
        for n in (0, 1, 2, 3, 6):
            calls.append(["fixed", h, n])
            expected.append(format(x, f".{n}f"))
        for n in (0, 1, 3):
            calls.append(["percent", h, n])
            expected.append(format(x, f".{n}%"))
        calls += [["general", h], ["repr", h], ["hex", h]]
        expected += [format(x, "g"), repr(x), x.hex()]
    got = _run(calls)
    wrong = [(c, g, e) for c, g, e in zip(calls, got, expected, strict=True) if g != e]
    assert not wrong, f"{len(wrong)} of {len(calls)} differ, e.g. {wrong[:5]}"
    assert len(calls) > 60_000


def test_ints_pad_and_strings_repr_as_python() -> None:
    rng = random.Random(_SEED)
    ints = [0, 1, -1, 9, 10, -9, -10, 23, 99, 100, 2**63 - 1, -(2**63)]
    ints += [rng.randrange(-(10**6), 10**6) for _ in range(500)]
    calls: list[list[Any]] = [["pad", n, w] for n in ints for w in (0, 1, 2, 3, 5)]
    expected = [format(n, f"0{w}d") for n in ints for w in (0, 1, 2, 3, 5)]
    strings = _strings()
    calls += [["repr_str", s] for s in strings]
    expected += [repr(s) for s in strings]
    got = _run(calls)
    wrong = [(c, g, e) for c, g, e in zip(calls, got, expected, strict=True) if g != e]
    assert not wrong, f"{len(wrong)} of {len(calls)} differ, e.g. {wrong[:5]}"
