"""AllTick, as hkticks speaks it: the lowest part, with no threads and no state of ours.

Owns ``protocol.py`` (the WebSocket requests and frames sans-I/O: values in,
bytes out; bytes in, values out, never raising on bad input; and the one
namespace ``protocol as alltick`` re-exporting the three below), ``spec.py``
(what AllTick documents, as values: URLs, command ids, return codes, plans and
their limits, K-line types, code conversion ``00700`` <-> ``700.HK``),
``fields.py`` (the tolerant field, trade and book decoders), ``rest_frames.py``
(REST queries and answers, bars, static info), ``rest_client.py`` (the REST
client with AllTick's rate rules), ``kline.py`` (minute bars decoded bar by
bar) and ``urls.py`` (the token in URLs, and the one redaction of every secret
in a URL or DSN shown).

Must not: start threads, read settings, or import anything but ``tick`` and
``errors`` (callers pass in what it needs).
"""
