def first_error(errors) -> str:
    """'field: message' for the first problem in a DRF error structure."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            inner = first_error(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(errors, list) and errors:
        return first_error(errors[0])
    return str(errors)
