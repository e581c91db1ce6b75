"""`signalbridge parse` on real streams reads and writes bytes; it must answer exactly as
the text loop does, and a line that is not UTF-8 is an error line, not the end of the run."""

import io

from signalbridge.parsing.jsonl import run

LINES = [
    '{"text":"buy gold now sl 2640 tp 2660","id":1}',
    "",
    "   ",
    "\u00a0",
    '{"text":"Move SL to 1.0850","id":7}',
    '{"text":"#BTC/USDT LONG\\nEntry: 64000-64500\\nTargets: 65000\\nStop: 63000 🚀"}',
    '{"text": "x"',
    "[1, 2]",
    '{"text":"Тейк 1 взят ✅"}',
]


def run_text(data: str) -> str:
    out = io.StringIO()
    assert run(io.StringIO(data), out, None) == 0
    return out.getvalue()


def run_streams(data: bytes) -> bytes:
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    sink = io.BytesIO()
    stdout = io.TextIOWrapper(sink, encoding="utf-8", write_through=True)
    assert run(stdin, stdout, None) == 0
    return sink.getvalue()


def test_byte_streams_answer_as_the_text_loop() -> None:
    data = "\n".join(LINES) + "\n"
    assert run_streams(data.encode()).decode() == run_text(data)
    assert run_streams(data.replace("\n", "\r\n").encode()).decode() == run_text(data)


def test_a_line_that_is_not_utf8_is_an_error_line() -> None:
    data = b'{"text":"SL hit"}\n\xff\xfe{"text":"x"}\n{"text":"Close all now"}\n'
    out = run_streams(data).decode().splitlines()
    assert len(out) == 3
    assert '"error"' in out[1]
    assert '"close_all"' in out[2]
