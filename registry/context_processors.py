from . import roles


def role(request):
    user = getattr(request, "user", None)
    current = roles.role_of(user)
    return {
        "user_role": current,
        "user_can_write": roles.can_write(user),
        "user_is_county": roles.is_county(user),
        "user_township_id": roles.township_id_of(user) if current else None,
    }
