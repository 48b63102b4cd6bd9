"""Alt+digit over SSH and in tmux: terminals send Alt+1 as ESC followed by "1".

Textual maps ESC+digit to the character macOS types for Option+digit ("¡", "™", "£" …), a mapping
meant for WezTerm on macOS; every other terminal that sends Alt as ESC (xterm, GNOME Terminal, tmux,
SSH sessions) then types "™" instead of switching tabs. `enable_alt_digit_keys` removes that mapping,
so ESC+digit arrives as `alt+<digit>`; `OPTION_DIGIT_KEYS` names the characters a macOS terminal types
for Option+digit, so they can be bound too (only where no text input takes them).
"""

from __future__ import annotations

OPTION_DIGIT_KEYS = {
    "1": "inverted_exclamation_mark",  # ¡
    "2": "trade_mark_sign",  # ™
    "3": "pound_sign",  # £
    "4": "cent_sign",  # ¢
    "5": "infinity",  # ∞
    "6": "section_sign",  # §
}


def enable_alt_digit_keys() -> None:
    """Make ESC+digit (Alt+digit in most terminals) arrive as `alt+<digit>` instead of a macOS character."""
    from typing import Any, cast

    from textual import _ansi_sequences

    sequences = cast(dict[str, Any], _ansi_sequences.ANSI_SEQUENCES_KEYS)
    for digit in "0123456789":
        sequences.pop(f"\x1b{digit}", None)
