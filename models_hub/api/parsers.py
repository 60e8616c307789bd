"""The REST API's JSON parser: DRF's, with a body nested too deeply for Python's parser answered 400, not 500."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # '[[[[...' a few thousand deep: the C decoder gives up after a bounded effort
            raise ParseError("JSON parse error - the body nests arrays or objects too deeply.") from None
