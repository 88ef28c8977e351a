"""The clinician web app: pages (Jinja2 + htmx), the JSON API and, later, FHIR / CDS Hooks.

>>> from glutemed.server import Settings, create_app
>>> app = create_app(Settings(environment="development"))  # doctest: +SKIP

``glutemed serve`` calls :func:`run`.
"""

from glutemed.server._app import create_app
from glutemed.server._run import run, stored_secret_key
from glutemed.server._settings import Settings

__all__ = ["Settings", "create_app", "run", "stored_secret_key"]
