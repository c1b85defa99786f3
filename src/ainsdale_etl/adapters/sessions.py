"""Session settings pinned on every connection as it is made, whatever the role's or the
database's defaults, in libpq's ``options`` startup parameter (no round trip)."""

from __future__ import annotations

from collections.abc import Mapping

# The session settings that change how values are written and read as text, pinned on every
# connection whatever the role's or the database's defaults (a warehouse whose DateStyle is
# 'SQL, DMY' read the ledger's dates day first; issue #29). They travel in libpq's ``options``
# startup parameter, so pinning them costs no round trip.
PINNED_SETTINGS: dict[str, str] = {
    "DateStyle": "ISO,YMD",
    "TimeZone": "UTC",
    "IntervalStyle": "postgres",
}
# The warehouse's unqualified names (the star's tables) are public's, whatever a role's
# search_path says ("$user" first, by default). pg_catalog and pg_temp are searched all the
# same; the lake's catalog connects on its own (lake/catalog.py).
WAREHOUSE_SETTINGS: dict[str, str] = {**PINNED_SETTINGS, "search_path": "public"}


def with_session_settings(uri: str, settings: Mapping[str, str], options: str = "") -> str:
    """``uri`` with ``settings`` (and then ``options``, raw libpq ``options`` text) added to
    its ``options`` parameter: the URI's own options stay, before ours (the last ``-c`` of a
    name wins). The rest of the URI is left as written (libpq reads no '+' as a space)."""
    from urllib.parse import quote, unquote

    pinned = " ".join(f"-c {name}={_options_escape(value)}" for name, value in settings.items())
    if not pinned and not options:
        return uri
    base, _, fragment = uri.partition("#")
    base, mark, query = base.partition("?")
    pairs = [pair for pair in query.split("&") if pair] if mark else []
    theirs = [
        unquote(p.partition("=")[2]) for p in pairs if unquote(p.partition("=")[0]) == "options"
    ]
    kept = [p for p in pairs if unquote(p.partition("=")[0]) != "options"]
    merged = " ".join(part for part in (theirs[-1] if theirs else "", pinned, options) if part)
    kept.append(f"options={quote(merged, safe='')}")
    return f"{base}?{'&'.join(kept)}" + (f"#{fragment}" if fragment else "")


def _options_escape(value: str) -> str:
    """A value as libpq's ``options`` reads it: spaces and backslashes escaped."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")
