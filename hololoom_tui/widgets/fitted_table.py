"""A DataTable whose header is redrawn whenever new rows widen its columns."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class FittedTable(DataTable[str]):
    """A DataTable that redraws every line (the header too) once it has measured rows added since the last draw.

    Textual's DataTable measures new rows when it is idle and keeps lines drawn before that in a cache keyed
    by its update count, which measuring does not change: on a busy machine a header drawn between `add_row`
    and the measurement kept the old, narrower column widths above rows drawn with the new ones.
    """

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        widths = [column.get_render_width(self) for column in self.columns.values()]
        super()._update_dimensions(new_rows)
        if widths != [column.get_render_width(self) for column in self.columns.values()]:
            self._update_count += 1  # a new cache key for every line drawn from now on
            self.refresh()
