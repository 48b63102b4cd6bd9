"""A calculator endpoint (sample that evaluates user input)."""


def calculate(expression: str) -> float:
    """Evaluate the expression the user typed."""
    return float(eval(expression))
