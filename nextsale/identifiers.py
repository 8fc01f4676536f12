"""The one normalisation of emails and person identifiers.

Two spellings of the same identifier must be one node of the identity graph, one erasure match
and one destination record: the same email in NFC and NFD form, with a zero-width space pasted
in, a no-break space or a tab around it, or a full-width `＠` from a Japanese keyboard. So every
identifier column of the contracts (`Column.identifier`) is normalised as it is loaded, by this
function, and everything downstream (staging, the identity graph, erasure requests, activation,
the syncs) compares the normalised value:

* Unicode NFKC (compatibility forms folded: full-width letters, ligatures, no-break spaces);
* white space, control and invisible format characters (zero-width spaces and joiners, bidi
  marks, byte-order marks, soft hyphens) removed;
* emails in lower case. Other identifiers keep their case: Salesforce and many shop ids are
  case-sensitive.

An identifier that is empty afterwards is missing (None).
"""

from __future__ import annotations

import unicodedata

EMAIL, ID = "email", "id"
_REMOVED_CATEGORIES = {"Cc", "Cf", "Zs", "Zl", "Zp"}  # controls, format, every kind of space


def normalize_identifier(value: str | None, kind: str = ID) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value)
    text = "".join(
        c for c in text if not c.isspace() and unicodedata.category(c) not in _REMOVED_CATEGORIES
    )
    if kind == EMAIL:
        text = unicodedata.normalize("NFKC", text.lower())  # lower case can leave a non-NFKC form
    return text or None


# Printable ASCII without spaces is already normalised, but for an email's case: the SQL below
# settles it without a call into Python, so the many plain identifiers cost nothing.
_PLAIN = "[!-~]*"


def identifier_sql(value: str, kind: str) -> str:
    """DuckDB SQL for normalize_identifier(value) over a text expression, on a connection
    where `register` has been called."""
    plain = f"lower({value})" if kind == EMAIL else value
    return (
        f"nullif(case when {value} is null then null "  # else NULL would reach Python
        f"when regexp_full_match({value}, '{_PLAIN}') then {plain} "
        f"else nextsale_identifier({value}, '{kind}') end, '')"
    )


def register(con) -> None:
    """Make normalize_identifier callable from SQL on a DuckDB connection."""
    con.create_function(
        "nextsale_identifier",
        normalize_identifier,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        null_handling="special",  # it returns None for an identifier of spaces only
        side_effects=False,
    )
