"""OpenAPI tweaks: routes served with and without a trailing slash are documented once."""


def drop_slash_twins(endpoints, **kwargs):
    paths = {path for path, *_ in endpoints}
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if not (path.endswith("/") and path.rstrip("/") in paths)
    ]
