"""The one mask of account numbers (pages, API, exports other than the bank file, history).

Only the last four digits are shown, to every role, on every screen: nothing the same person
sees elsewhere (another page, the API, a list export, a history line) carries other digits, so
the number cannot be rebuilt. No search by part of a number either (docs/payments.md)."""

SHOWN = 4


def mask_account_number(number: str) -> str:
    """``6217000012345678901`` → ``****8901``; a number of four digits or fewer → ``****``."""
    number = (number or "").strip()
    if not number:
        return ""
    tail = number[-SHOWN:] if len(number) > SHOWN else ""
    return f"****{tail}"
