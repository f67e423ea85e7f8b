"""Rich display in notebooks: small HTML tables for the results' ``_repr_html_``.

Jupyter shows an object's ``_repr_html_()`` when it is the value of a cell. The results
(:class:`~jumpprocess.Trajectory`, :class:`~jumpprocess.BatchSummary`,
:class:`validation.ValidationReport`) render their tables with :func:`html_table` and
return the same rows as data from a method (``jump_table()``, ``statistics()``,
``error_table()``), so what is shown can also be computed with.
"""

from __future__ import annotations

import html
import math

__all__ = ["html_table", "format_value", "html_block"]

#: Tables longer than this show their first and last rows only.
MAX_HTML_ROWS = 24


def format_value(value) -> str:
    """A compact text for a table cell: floats with 6 significant digits, None/NaN as "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    return str(value)


def html_table(rows: list, columns: dict, max_rows: int = MAX_HTML_ROWS, more: str = "rows") -> str:
    """An HTML table of ``rows`` (dicts); ``columns`` maps keys to header labels.

    With more than ``max_rows`` rows, the first ``max_rows − 3`` and the last 2 are shown
    with a line saying how many are left out.
    """
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    shown = list(rows)
    hidden = 0
    if len(shown) > max_rows:
        hidden = len(shown) - (max_rows - 1)
        shown = shown[: max_rows - 3] + [None] + shown[-2:]
    body = []
    for row in shown:
        if row is None:
            body.append(f'<tr><td colspan="{len(columns)}" style="text-align:center">… {hidden} more {more} …</td></tr>')
            continue
        cells = "".join(f"<td>{html.escape(format_value(row.get(key)))}</td>" for key in columns)
        body.append(f"<tr>{cells}</tr>")
    return (f'<table style="font-size:90%"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def html_block(title: str, lines=(), table: str = "") -> str:
    """A titled block: bold title, escaped text lines, then an (already HTML) table."""
    text = "".join(f"<br>{html.escape(line)}" for line in lines)
    return f"<div><b>{html.escape(title)}</b>{text}{table}</div>"
