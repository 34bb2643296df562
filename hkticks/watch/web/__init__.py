"""The web dashboard (``hkticks dash``): another view of the board, in a browser.

- :mod:`.state` is pure: the board's model, buffers and alerts -> the JSON
  messages the page draws (a whole snapshot, then batched diffs), and the
  heatmap's layout from the terminal heatmap's own engine
  (:func:`hkticks.watch.heatmap.layout`), kept stable between recomputes.
- :mod:`.server` owns the I/O: one local HTTP + WebSocket server (the
  ``websockets`` library) that serves the page and its files from
  ``static/`` (nothing from another host), checks the Host header and the
  WebSocket Origin, asks for a token when bound beyond loopback, and runs the
  board's pump on its own event loop.

Must not: run a second pipeline (it drives the same pump as the terminal
board), send the AllTick token or any URL with secrets to the page.
"""
