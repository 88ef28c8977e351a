"""Where the FHIR R4 and CDS Hooks 2.0 endpoints plug in (issue 7).

The mapping functions live in :mod:`glutemed.fhir` (no web framework there); this module is the
thin HTTP layer over them and is included by :func:`glutemed.server.create_app`:

* ``fhir_router`` is mounted at ``/fhir`` (e.g. ``GET /fhir/Patient/{id}/$everything`` for the
  Bundle export, ``POST /fhir`` for an import transaction). Use the dependencies of
  :mod:`glutemed.server._deps` -- ``CurrentAuth`` (logged-in user, clinic-scoped), ``DB``
  (session; commit explicitly), ``State`` (``state.kb``) -- and the repositories of
  :mod:`glutemed.store`. CSRF: add ``Depends(csrf_protect)`` to cookie-authenticated routes.
* ``cds_router`` is mounted at ``/cds-services`` (discovery, ``patient-view``,
  ``order-select``, feedback). CDS clients authenticate with JWT bearer tokens, not cookies, so
  these routes do not use the CSRF dependency.
* Errors: raise :class:`glutemed.errors.GlutemedError` subclasses; requests under ``/fhir`` and
  ``/cds-services`` get JSON problems from the app's handlers. Return an ``OperationOutcome``
  yourself where the FHIR specification requires one.

Both routers are empty until the FHIR work lands.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["cds_router", "fhir_router"]

fhir_router = APIRouter(prefix="/fhir", tags=["FHIR"])
cds_router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
