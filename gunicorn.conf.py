"""gunicorn settings read at start-up (gunicorn loads ./gunicorn.conf.py by itself; the
Dockerfile/compose and the e2e tests start gunicorn from the repository root).

* No ``Server: gunicorn`` banner: it tells an attacker which server and so which weaknesses
  to try (docs/security.md).
* Access logs with ID numbers masked: searches put typed ID numbers in URLs (``?q=…``).
"""

from gunicorn.glogging import Logger
from gunicorn.http import wsgi

from registry.idnumber import mask_id_numbers_in_text

_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(self):
    return [line for line in _default_headers(self) if not line.startswith("Server:")]


wsgi.Response.default_headers = _default_headers_without_server


class MaskingLogger(Logger):
    """Access log atoms (request line, path, query string, referer) with ID numbers masked."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask_id_numbers_in_text(atoms[key])
        return atoms


logger_class = MaskingLogger
