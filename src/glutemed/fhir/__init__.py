"""Layer 5: FHIR R4 import/export and CDS Hooks 2.0 services (pure functions).

* :func:`export_bundle` / :func:`import_bundle`: a :class:`PatientRecord` <-> a FHIR R4 Bundle
  (fhir.resources R4B models; round trip on the data fields).
* :func:`to_operation_outcome` / :func:`http_status_for`: any glutemed error -> a FHIR
  OperationOutcome and the HTTP status the server should use.
* :func:`discovery`, :func:`patient_view`, :func:`order_select`, :func:`feedback`: the CDS Hooks
  service logic; :func:`verify_client_jwt` authenticates the CDS client; :func:`strip_empty`
  enforces the CDS Hooks JSON rules; pydantic models of the CDS Hooks bodies.

Local code systems and extensions live under ``https://glutemed.org/fhir/`` (see
:mod:`glutemed.fhir._codes`).
"""

from glutemed.fhir._cds import (
    ORDER_SELECT_ID,
    PATIENT_VIEW_ID,
    PREFETCH,
    REQUIRED_PREFETCH,
    discovery,
    feedback,
    order_select,
    patient_view,
    strip_empty,
)
from glutemed.fhir._cds_models import (
    AcceptedSuggestion,
    Action,
    Card,
    CdsRequest,
    CdsResponse,
    CdsService,
    CdsServices,
    Coding,
    Feedback,
    FeedbackEntry,
    FhirAuthorization,
    Link,
    OverrideReason,
    Source,
    Suggestion,
)
from glutemed.fhir._codes import BASE, CS, EXT, SID
from glutemed.fhir._errors import (
    CdsAuthenticationError,
    FhirInputError,
    PrefetchMissingError,
    http_status_for,
    to_operation_outcome,
)
from glutemed.fhir._exercise import exercise_care_plan
from glutemed.fhir._export import export_bundle
from glutemed.fhir._import import import_bundle
from glutemed.fhir._jwt import ALLOWED_ALGORITHMS, MAX_TOKEN_LIFETIME_S, verify_client_jwt
from glutemed.fhir._record import (
    AdherenceSummary,
    ImportResult,
    MovementRecord,
    PatientRecord,
    ScoreRecord,
    Visit,
    movements_from_motion,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "BASE",
    "CS",
    "EXT",
    "MAX_TOKEN_LIFETIME_S",
    "ORDER_SELECT_ID",
    "PATIENT_VIEW_ID",
    "PREFETCH",
    "REQUIRED_PREFETCH",
    "SID",
    "AcceptedSuggestion",
    "Action",
    "AdherenceSummary",
    "Card",
    "CdsAuthenticationError",
    "CdsRequest",
    "CdsResponse",
    "CdsService",
    "CdsServices",
    "Coding",
    "Feedback",
    "FeedbackEntry",
    "FhirAuthorization",
    "FhirInputError",
    "ImportResult",
    "Link",
    "MovementRecord",
    "OverrideReason",
    "PatientRecord",
    "PrefetchMissingError",
    "ScoreRecord",
    "Source",
    "Suggestion",
    "Visit",
    "discovery",
    "exercise_care_plan",
    "export_bundle",
    "feedback",
    "http_status_for",
    "import_bundle",
    "movements_from_motion",
    "order_select",
    "patient_view",
    "strip_empty",
    "to_operation_outcome",
    "verify_client_jwt",
]
