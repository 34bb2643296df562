"""AllTick, as hkticks speaks it: the lowest part, with no threads and no state of ours.

Owns ``protocol.py`` (frames sans-I/O: values in, bytes out; bytes in, values
out, never raising on bad input; plans, return codes, code conversion
``00700`` <-> ``700.HK``), ``rest.py`` (the REST client with AllTick's rate
rules), ``kline.py`` (minute bars decoded bar by bar) and ``urls.py`` (the
token in URLs, and the one redaction of every secret in a URL or DSN shown).

Must not: start threads, read settings, or import anything but ``tick`` and
``errors`` (callers pass in what it needs).
"""
