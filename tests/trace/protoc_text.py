"""protoc_text.py - reads protoc's text output (`--decode=...` and
`--decode_raw` alike), for the trace and OTLP tests: parse(text) ->
[(key, value)], a key being a field name or (decode_raw) a field number as a
str, a value being a str (with raw_strings, bytes: unescaped, not decoded,
for ids), an int, any other token as a str (enum names, 0x... fixed values,
floats), or such a list for a message; get(msg, key) -> its first value of
key, every(msg, key) -> all of them."""
import codecs
import re

TOKEN = re.compile(r'\s*(?:(\w+)\s*\{|(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|[^\s]+)|(\}))')


def parse(text, raw_strings=False):
    stack, pos = [[]], 0
    while True:
        m = TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip():
                raise SystemExit("cannot parse protoc output at: " + text[pos:pos + 60])
            if len(stack) != 1:
                raise SystemExit("protoc output ends inside a message")
            return stack[0]
        pos = m.end()
        if m.group(1):
            child = []
            stack[-1].append((m.group(1), child))
            stack.append(child)
        elif m.group(4):
            stack.pop()
        else:
            v = m.group(3)
            if v.startswith('"') and raw_strings:
                v = codecs.escape_decode(v[1:-1].encode("latin-1"))[0]
            elif v.startswith('"'):
                v = codecs.escape_decode(v[1:-1].encode())[0].decode()
            elif re.fullmatch(r"-?\d+", v):
                v = int(v)
            stack[-1].append((m.group(2), v))


def get(msg, key, default=None):
    """The first value of key in msg, or default."""
    return next((v for k, v in msg if k == key), default)


def every(msg, key):
    return [v for k, v in msg if k == key]
