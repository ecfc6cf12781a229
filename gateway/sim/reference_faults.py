"""Test hooks of a simulator's public reference data: its instrument list and its prices can
be made to answer garbage, nothing, or an error, for the gateway's fault tests."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

GARBAGE = "garbage"  # a 200 whose body is not the venue's shape
EMPTY = "empty"  # a 200 with an empty body
ERROR = "error"  # a 500
SILENT = "silent"  # an empty JSON list: the venue lists nothing
MODES = (GARBAGE, EMPTY, ERROR, SILENT)


@dataclass
class ReferenceFaults:
    instruments: str | None = None  # one of MODES, or None: the list answers as the venue does
    prices: str | None = None

    @staticmethod
    def _reply(mode: str | None) -> web.Response | None:
        if mode is None:
            return None
        if mode == GARBAGE:
            return web.Response(body=b'{"surprise": [1, 2', content_type="application/json")
        if mode == EMPTY:
            return web.Response(body=b"", content_type="application/json")
        if mode == ERROR:
            return web.json_response({"success": False, "error": "internal error"}, status=500)
        if mode == SILENT:
            return web.json_response([])
        raise ValueError(f"reference fault must be one of {MODES}, not {mode!r}")

    def list_reply(self) -> web.Response | None:
        """The fault's answer to the instrument list, or None: answer it properly."""
        return self._reply(self.instruments)

    def price_reply(self) -> web.Response | None:
        return self._reply(self.prices)
