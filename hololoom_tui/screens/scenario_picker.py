"""A modal list of the shipped scenarios; choosing one starts its live replay."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ScenarioPicker(ModalScreen[str | None]):
    """Pick a scenario by name; Escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="scenario.cancel")]

    def __init__(self, scenarios: dict[str, str]) -> None:
        super().__init__()
        self.scenarios = scenarios

    def compose(self) -> ComposeResult:
        """A title and the list."""
        with Vertical(id="scenario-dialog"):
            yield Static("[b]Replay a scenario[/b] [dim](Enter to start, Esc to cancel)[/dim]")
            yield OptionList(
                *[Option(f"{escape(name)}  [dim]{escape(title)}[/dim]", id=name) for name, title in self.scenarios.items()],
                id="scenario-options",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Return the chosen scenario's name."""
        self.dismiss(event.option.id)
