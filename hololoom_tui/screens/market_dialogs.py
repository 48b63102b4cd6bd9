"""Modal dialogs of the Marketplace tab: confirm an install, update or rollback; rate a package."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmChange(ModalScreen[bool]):
    """Show what a change will do (the package's powers) and ask yes or no; Escape is no."""

    BINDINGS = [
        Binding("y", "dismiss(True)", "Yes", id="market.confirm.yes"),
        Binding("n,escape", "dismiss(False)", "No", id="market.confirm.no"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        """The question, what the package can do, and the two buttons."""
        with Vertical(id="market-dialog"):
            yield Static(f"[b]{self.title_text}[/b] [dim](y = yes, n / Esc = no)[/dim]")
            with VerticalScroll(id="market-dialog-body"):
                yield Static(self.text, id="market-dialog-text", markup=False)
            with Horizontal(id="market-dialog-buttons"):
                yield Button("Yes", id="market-yes", variant="primary")
                yield Button("No", id="market-no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Yes or no."""
        self.dismiss(event.button.id == "market-yes")


class RatePackage(ModalScreen[tuple[int, str] | None]):
    """Ask for 1-5 stars and a comment; Enter in the comment submits, Escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="market.rate.cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.package = name

    def compose(self) -> ComposeResult:
        """Stars, comment and a line for problems."""
        with Vertical(id="market-dialog"):
            yield Static(f"[b]Rate {self.package}[/b] [dim](Enter to send, Esc to cancel)[/dim]")
            yield Input(placeholder="stars 1-5", id="market-stars", max_length=1)
            yield Input(placeholder="comment (optional)", id="market-comment", max_length=500)
            yield Static("", id="market-rate-problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Check the stars and return the rating."""
        stars = self.query_one("#market-stars", Input).value.strip()
        if event.input.id == "market-stars" and stars:
            self.query_one("#market-comment", Input).focus()
            return
        if stars not in ("1", "2", "3", "4", "5"):
            self.query_one("#market-rate-problem", Static).update("Stars must be a number from 1 to 5.")
            self.query_one("#market-stars", Input).focus()
            return
        self.dismiss((int(stars), self.query_one("#market-comment", Input).value.strip()))
