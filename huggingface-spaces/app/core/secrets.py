"""The secrets the app holds, and the one function that takes them out of any text it shows.

Settings register DATABASE_URL's password (and the URL itself), QDRANT_API_KEY and GEMINI_API_KEY
when they are read. `redact` replaces every form a secret can take in a message — as written,
percent-decoded, percent-encoded, JSON- or repr-escaped — with `***`. It runs on every 503
reason (`ServiceUnavailable`) and, through `install_log_redaction`, on every log record of the
process (the app's, uvicorn's, psycopg's), exception text included.
"""

import json
import logging
from typing import Any
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
# Shorter values would blank out ordinary words in every message; they are still never written
# into a message by the app (the driver gets the password as a parameter, not inside a URL).
MIN_SECRET_CHARS = 4

_forms: set[str] = set()
_ordered: list[str] = []


def _variants(value: str) -> set[str]:
    plain = {value, unquote(value)}
    encoded = {quote(v, safe="") for v in plain} | {quote_plus(v) for v in plain}
    escaped = {json.dumps(v)[1:-1] for v in plain} | {repr(v)[1:-1] for v in plain}
    return plain | encoded | escaped


def register(*values: str) -> None:
    """Adds secrets to those `redact` removes (empty and very short values are ignored)."""
    global _ordered
    added = {
        f
        for v in values
        if len(v) >= MIN_SECRET_CHARS
        for f in _variants(v)
        if len(f) >= MIN_SECRET_CHARS
    }
    if not added - _forms:
        return
    _forms.update(added)
    _ordered = sorted(_forms, key=len, reverse=True)  # longest first: a form may contain another
    install_log_redaction()


def redact(text: str) -> str:
    """`text` with every registered secret, in any of its forms, replaced by `***`."""
    for form in _ordered:
        if form in text:
            text = text.replace(form, MASK)
    return text


def _clean(arg: object) -> object:
    """A log argument as it may be printed: unchanged unless its text holds a secret."""
    if arg is None or isinstance(arg, (bool, int, float)):
        return arg
    text = str(arg)
    redacted = redact(text)
    return arg if redacted == text else redacted


def install_log_redaction() -> None:
    """Every log record made from now on carries redacted text, whichever handler writes it.

    A record factory sees all records (a filter only those of its own logger or handler): the
    message and each argument are redacted (arguments stay separate: uvicorn's access formatter
    reads them), and an exception's traceback is rendered into `exc_text`, which every formatter
    prints instead of rendering it again.
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return

    # The factory's arguments are LogRecord's, passed through (typeshed: Callable[..., LogRecord]).
    def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if _ordered:
            record.msg = _clean(record.msg)
            if isinstance(record.args, dict):
                record.args = {key: _clean(value) for key, value in record.args.items()}
            elif record.args:
                record.args = tuple(_clean(arg) for arg in record.args)
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    redacting_record.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_record)
