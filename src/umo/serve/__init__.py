"""``umo serve``: live speech -> face and body frames over WebSocket, many sessions on one model.

protocol.py   messages, validation and frame encodings (docs/protocol.md)
batching.py   the model's streaming step batched across sessions, and the worker thread running it
server.py     the asyncio server: sessions, limits, back-pressure, the live page and its assets
cli.py        ``add_serve_parser`` for umo.cli
static/       the live page (its 3D character is umo.preview's scene.js)
"""
