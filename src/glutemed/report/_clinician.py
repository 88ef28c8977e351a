# ruff: noqa: E501  (the letter template and its CSS below are kept on long lines)
"""The clinician report: a printable letter to the GP or surgeon, or a note for the record.

Built from plain data (no database, no web framework) so that the server, the command line or a
script can produce it::

    html = clinician_report_html(data, letter_to="gp")
    pdf = clinician_report_pdf(data, letter_to="surgeon")   # WeasyPrint

``data`` keys
-------------
``clinic``            clinic name
``author``            the clinician's display name
``patient``           ``{"given_name", "family_name", "birth_date", "identifier", "sex"}``
``visit``             ``{"visit_date", "note", "case"}`` (the stored case)
``assessment``        ``Assessment.to_dict()`` of glutemed.reasoning (or None)
``plan``              ``{"status", "generated": CarePlan.to_dict(), "decision"}`` (or None)
``treatments``        ``[{"name", "given_on", "response", "dose"}]``
``outcomes``          ``{instrument: {"name", "points", "change"}}`` (as the server summarises them)
``movement``          ``[{"task", "findings", "measures", ...}]`` (+ ``peak_pelvic_drop``, ``still_png_data_uri``)
``finding_names``     ``{finding id: name}`` for the findings in the case
``treatment_names``   ``{treatment id: name}``
``generated_at``      ISO timestamp

Every letter ends with the decision-support disclaimer and the engine and knowledge-base versions
of the assessment and plan it reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from jinja2 import Environment, select_autoescape

__all__ = ["LETTER_KINDS", "clinician_report_html", "clinician_report_pdf"]

LetterTo = Literal["gp", "surgeon", "record"]
LETTER_KINDS: tuple[str, ...] = ("gp", "surgeon", "record")

_CSS = """
@page { size: A4; margin: 18mm 18mm 20mm 18mm;
  @bottom-center { content: "page " counter(page) " of " counter(pages); font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; line-height: 1.4; color: #111; }
h1 { font-size: 14pt; margin: 0 0 4pt 0; }
h2 { font-size: 11pt; margin: 12pt 0 4pt 0; border-bottom: 1px solid #999; }
.head { display: flex; justify-content: space-between; }
.muted { color: #555; font-size: 8.5pt; }
.alert { border: 2px solid #b00020; background: #fdecea; padding: 6pt; margin: 8pt 0; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
th, td { text-align: left; padding: 2pt 4pt; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f1f1f1; }
.bar { display: inline-block; height: 7pt; background: #1f4e79; }
.ci { color: #555; }
footer { margin-top: 16pt; border-top: 1px solid #999; padding-top: 4pt; font-size: 8pt; color: #444; }
@media screen { body { max-width: 780px; margin: 2em auto; } }
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title><style>{{ css }}</style></head>
<body>
<div class="head"><div><strong>{{ clinic }}</strong></div><div>{{ today }}</div></div>
<h1>{{ title }}</h1>
<p><strong>Re:</strong> {{ patient_name }}{% if patient.birth_date %}, born {{ patient.birth_date }}{% endif %}
{% if patient.identifier %}, record no. {{ patient.identifier }}{% endif %}</p>
<p>{{ salutation }}</p>
<p>I assessed {{ patient_name }} on {{ visit.visit_date }}{% if side %} for {{ side }} lateral hip pain{% endif %}.
{% if age %}Age {{ age }}.{% endif %}</p>

{% if assessment and assessment.red_flags %}
<div class="alert"><strong>Red flag{{ 's' if assessment.red_flags|length > 1 }}:</strong>
<ul>{% for f in assessment.red_flags %}<li><strong>{{ f.name }}</strong> ({{ f.urgency|replace('_', ' ') }}):
{{ f.action }} <span class="muted">Reason: {{ f.reason }}</span></li>{% endfor %}</ul>
The ranked differential is withheld until the red flag is dealt with.</div>
{% endif %}

<h2>Findings</h2>
{% if positives %}<p><strong>Positive:</strong> {{ positives|join('; ') }}.</p>{% endif %}
{% if negatives %}<p><strong>Negative:</strong> {{ negatives|join('; ') }}.</p>{% endif %}
{% if imaging_findings %}<p><strong>Imaging:</strong> {{ imaging_findings|join('; ') }}.</p>{% endif %}
{% if not positives and not negatives and not imaging_findings %}<p>No findings recorded.</p>{% endif %}

{% if assessment and assessment.conditions %}
<h2>Assessment (decision support)</h2>
<table><tr><th>Condition</th><th>Probability</th><th>95 % interval</th><th></th></tr>
{% for c in assessment.conditions[:6] %}
<tr><td>{{ c.name }}</td><td>{{ pct(c.probability) }}</td>
<td class="ci">{% if c.interval %}{{ pct(c.interval[0]) }} to {{ pct(c.interval[1]) }}{% else %}not computed{% endif %}</td>
<td><span class="bar" style="width: {{ (c.probability or 0) * 120 }}pt"></span></td></tr>
{% endfor %}</table>
<p class="muted">Probabilities of different conditions do not sum to 100 %: the conditions can coexist.
Pre-test probabilities for the {{ (case.setting or '')|replace('_', ' ') }} setting.</p>
{% endif %}

{% if assessment and assessment.imaging %}
<h2>Imaging</h2>
<p><strong>{{ assessment.imaging.recommendation }}</strong>{% if assessment.imaging.urgency not in ('none', 'routine') %}
({{ assessment.imaging.urgency|replace('_', ' ') }}){% endif %}.</p>
<ul>{% for r in assessment.imaging.reasons %}<li>{{ r.text }}</li>{% endfor %}</ul>
{% if assessment.severity and assessment.severity.grade not in ('not_imaged',) %}
<p>Imaging grade: {{ assessment.severity.grade|replace('_', ' ') }}{% if assessment.severity.flags %}; {{ assessment.severity.flags|join('; ') }}{% endif %}.</p>
{% endif %}
{% endif %}

{% if plan %}
<h2>Care plan ({{ plan.status }})</h2>
{% if plan_items %}<ol>{% for r in plan_items %}<li><strong>{{ r.name }}</strong>{% if r.why %}: {{ r.why }}{% endif %}</li>{% endfor %}</ol>{% endif %}
{% if added %}<p>Added by the clinician: {{ added|join(', ') }}.</p>{% endif %}
{% if plan.decision and plan.decision.note %}<p>Note: {{ plan.decision.note }}</p>{% endif %}
{% if plan.generated.review_after_weeks %}<p>Review after {{ plan.generated.review_after_weeks }} weeks.</p>{% endif %}
{% if plan.generated.escalate_if %}<p>Escalate if: {{ escalate }}</p>{% endif %}
{% endif %}

{% if treatments %}
<h2>Treatment so far</h2>
<table><tr><th>Treatment</th><th>Started</th><th>Response</th></tr>
{% for t in treatments %}<tr><td>{{ t.name }}{% if t.dose %} ({{ t.dose }}){% endif %}</td><td>{{ t.given_on }}</td><td>{{ t.response }}</td></tr>{% endfor %}
</table>{% endif %}

{% if outcomes %}
<h2>Outcome measures</h2>
<table><tr><th>Measure</th><th>First</th><th>Latest</th><th>Interpretation</th></tr>
{% for iid, o in outcomes.items() %}<tr><td>{{ o.name }}</td>
<td>{{ o.points[0][1] }} ({{ o.points[0][0] }})</td><td>{{ o.points[-1][1] }} ({{ o.points[-1][0] }})</td>
<td>{% if o.change %}{{ o.change.explanation }}{% else %}one measurement{% endif %}</td></tr>{% endfor %}
</table>{% endif %}

{% if movement %}
<h2>Movement analysis</h2>
<ul>{% for m in movement %}<li>{{ m.task|replace('_', ' ') }}:
{% for k, v in (m.findings or {}).items() %}{{ finding_names.get(k, k) }} {{ v }}{% if not loop.last %}; {% endif %}{% endfor %}
{% if m.still_png_data_uri and m.peak_pelvic_drop %}<figure><img src="{{ m.still_png_data_uri }}" alt="Video frame at peak pelvic drop" style="max-width:60%;max-height:12cm">
<figcaption>Video frame at peak pelvic drop ({{ m.peak_pelvic_drop.side }} leg stance, {% set d = m.peak_pelvic_drop.pelvic_drop_deg %}{% if d >= 0 %}{{ '%.1f'|format(d) }}° drop on the other side{% else %}the other side {{ '%.1f'|format(-d) }}° higher, no drop{% endif %}), with the pelvis and trunk lines.</figcaption></figure>{% endif %}</li>{% endfor %}</ul>
{% endif %}

{% if visit.note %}<h2>Clinical note</h2><p>{{ visit.note }}</p>{% endif %}

<p>{{ closing }}</p>
<p>{{ author or 'The treating clinician' }}<br>{{ clinic }}</p>

<footer>
{{ disclaimer }}<br>
{% for label, v in stamps %}{{ label }}: engine {{ v.engine }}, knowledge base {{ v.kb }} (manifest {{ v.kb_manifest_sha256[:12] }}){% if not loop.last %}; {% endif %}{% endfor %}.
Generated {{ generated_at }}.
</footer>
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
_COMPILED = _ENV.from_string(_TEMPLATE)

_TITLES = {
    "gp": "Letter to the general practitioner",
    "surgeon": "Referral letter to the orthopaedic surgeon",
    "record": "Clinical assessment summary",
}
_SALUTATIONS = {"gp": "Dear Doctor,", "surgeon": "Dear Colleague,", "record": ""}
_CLOSINGS = {
    "gp": "Thank you for your continued care. Please contact me with any questions.",
    "surgeon": "I would be grateful for your opinion on further management.",
    "record": "",
}
_DISCLAIMER = (
    "Probabilities and suggestions come from glutemed, decision support built on published "
    "accuracy and treatment studies (most of them small); they support and do not replace "
    "clinical judgement."
)


def _pct(p: Any) -> str:
    if p is None:
        return "not available"
    return f"{float(p) * 100:.0f} %"


def _context(data: Mapping[str, Any], letter_to: str) -> dict[str, Any]:
    if letter_to not in LETTER_KINDS:
        from glutemed._checks import check_option

        check_option("letter_to", letter_to, LETTER_KINDS)
    patient = dict(data.get("patient") or {})
    visit = dict(data.get("visit") or {})
    case = dict(visit.get("case") or {})
    names = dict(data.get("finding_names") or {})
    tx_names = dict(data.get("treatment_names") or {})
    positives = [
        names.get(f, f) for f, v in (case.get("findings") or {}).items() if v == "positive"
    ]
    negatives = [
        names.get(f, f) for f, v in (case.get("findings") or {}).items() if v == "negative"
    ]
    imaging = [
        f"{names.get(f, f)}: {str(v).replace('_', ' ')}"
        for f, v in (case.get("imaging") or {}).items()
        if v != "not_done"
    ]
    assessment = data.get("assessment")
    plan = data.get("plan")
    plan_items: list[dict[str, str]] = []
    added: list[str] = []
    escalate = ""
    if plan:
        generated = plan.get("generated") or {}
        recs = generated.get("recommendations") or []
        selected = set((plan.get("decision") or {}).get("selected") or [])
        for r in recs:
            rid = r.get("id") or r.get("treatment")
            if plan.get("status") == "modified" and selected and rid not in selected:
                continue
            tid = r.get("treatment") or rid
            plan_items.append(
                {
                    "name": r.get("name") or tx_names.get(tid, str(tid)),
                    "why": str(r.get("why") or ""),
                }
            )
        added = [tx_names.get(t, t) for t in (plan.get("decision") or {}).get("added") or []]
        esc = generated.get("escalate_if")
        escalate = "; ".join(str(e) for e in esc) if isinstance(esc, list) else str(esc or "")
    stamps: list[tuple[str, Mapping[str, Any]]] = []
    if assessment and assessment.get("versions"):
        stamps.append(("Assessment", assessment["versions"]))
    if plan and (plan.get("generated") or {}).get("versions"):
        stamps.append(("Care plan", plan["generated"]["versions"]))
    age = (case.get("patient") or {}).get("age_years")
    return {
        "css": _CSS,
        "title": _TITLES[letter_to],
        "clinic": data.get("clinic", ""),
        "author": data.get("author", ""),
        "today": dt.date.today().isoformat(),
        "patient": patient,
        "patient_name": " ".join(
            x for x in (patient.get("given_name"), patient.get("family_name")) if x
        )
        or "the patient",
        "visit": visit,
        "case": case,
        "side": case.get("side") if case.get("side") not in (None, "unknown") else "",
        "age": f"{age:.0f}" if isinstance(age, int | float) else "",
        "salutation": _SALUTATIONS[letter_to],
        "closing": _CLOSINGS[letter_to],
        "positives": positives,
        "negatives": negatives,
        "imaging_findings": imaging,
        "assessment": assessment,
        "plan": plan,
        "plan_items": plan_items,
        "added": added,
        "escalate": escalate,
        "treatments": data.get("treatments") or [],
        "outcomes": data.get("outcomes") or {},
        "movement": data.get("movement") or [],
        "finding_names": names,
        "disclaimer": _DISCLAIMER,
        "stamps": stamps,
        "generated_at": data.get("generated_at")
        or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "pct": _pct,
    }


def clinician_report_html(data: Mapping[str, Any], *, letter_to: LetterTo | str = "gp") -> str:
    """Return the clinician report as a standalone printable HTML page.

    Parameters
    ----------
    data
        The report data (keys in the module docstring).
    letter_to
        ``"gp"`` (letter to the general practitioner), ``"surgeon"`` (referral letter) or
        ``"record"`` (assessment summary for the clinical record).
    """
    return _COMPILED.render(**_context(data, letter_to))


def clinician_report_pdf(data: Mapping[str, Any], *, letter_to: LetterTo | str = "gp") -> bytes:
    """Return the clinician report as PDF bytes (A4, rendered with WeasyPrint)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf = HTML(string=clinician_report_html(data, letter_to=letter_to)).write_pdf()
    return bytes(pdf or b"")
