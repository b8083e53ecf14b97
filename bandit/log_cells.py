"""Text cells of the decision log (the export and replay's input) against spreadsheet formulas.

OWASP's advice for CSV injection: a quote before a cell starting with ``=``, ``+``, ``-``,
``@``, tab or CR. The service's export (``neutralise``) and the simulator's replay
(``restore``) share this one definition, so an exported log replays unchanged. Pure text.
"""

from __future__ import annotations

import re

# a formula's first character, after any quotes this neutralisation added before it
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


def neutralise(cell: str) -> str:
    """A text cell as exported: a quote before text starting with ``=``, ``+``, ``-``, ``@``,
    tab or CR (also before such text already quoted, so ``restore`` is exact)."""
    return "'" + cell if _FORMULA.match(cell) else cell


def restore(cell: str) -> str:
    """The text ``neutralise`` was given; any other cell as it is."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell
