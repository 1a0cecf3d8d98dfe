"""The pages' side of the domain error: shown on the form field it concerns. Every page that
saves through a service uses it, mostly through ``registry.pages.ServiceFormView``."""

from .errors import DomainError


def show_domain_error(form, exc: DomainError) -> None:
    """Put ``exc`` on ``form``: on its field when the form has that field, else above the form
    (a version conflict, a refused state change)."""
    on_field = exc.field if exc.field in form.fields and not exc.is_conflict else None
    form.add_error(on_field, exc.message)
