from core.errors import DomainError


class AidError(DomainError):
    """What the aid services raise (a ``core.errors.DomainError``: Chinese message, field, code)."""
