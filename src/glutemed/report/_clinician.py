# ruff: noqa: E501  (the letter template and its CSS below are kept on long lines)
"""The clinician report: a printable letter to the GP or surgeon, or a note for the record.

Built from plain data (no database, no web framework) so that the server, the command line or a
script can produce it::

    html = clinician_report_html(data, letter_to="gp")
    pdf = clinician_report_pdf(data, letter_to="surgeon")   # WeasyPrint

``data`` keys
-------------
``clinic``            clinic name
``letterhead``        lines under the clinic name (address, telephone, e-mail), a list or a text
                      with one line per line (optional)
``author``            the clinician's display name
``patient``           ``{"given_name", "family_name", "birth_date", "identifier", "sex"}``
``visit``             ``{"visit_date", "note", "case"}`` (the stored case)
``assessment``        ``Assessment.to_dict()`` of glutemed.reasoning (or None)
``plan``              ``{"status", "generated": CarePlan.to_dict(), "decision"}`` (or None)
``treatments``        ``[{"name", "given_on", "response", "dose"}]``
``outcomes``          ``{instrument: {"name", "points", "change"}}`` (as the server summarises them)
``adherence``         ``[{"date", "programme", "stage", "sessions_done", "sessions_prescribed",
                      "pain_during_max", "pain_after_max", "suggestion", "decision"}]``: exercise
                      adherence per visit, oldest first (optional)
``movement``          ``[{"task", "findings", "measures", "picture_png", "peak_pelvic_drop",
                      "still_png_data_uri"}]`` (``picture_png``: optional PNG bytes of the trial's
                      plot; a video trial's still frame at peak pelvic drop is printed instead)
``finding_names``     ``{finding id: name}`` for the findings in the case
``derived_absent``    ``{finding id: [finding ids]}``: for a positive derived finding (a complete
                      pain map, a normal radiograph), the findings it sets absent that the case
                      does not record (optional); the letter names them
``treatment_names``   ``{treatment id: name}``
``sources``           ``{source id: full citation}`` of the knowledge base: cited sources become
                      numbered references (a source without a citation is left out, never shown
                      by its key)
``generated_at``      ISO timestamp

The letter is prose: the care plan's recommendations with their reasons, the review and the
criteria to escalate care as sentences, each cited source as a number that the reference list at
the end resolves. Every letter ends with the decision-support disclaimer and the engine and
knowledge-base versions of the assessment and plan it reports.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from glutemed.knowledge import lower_first
from glutemed.reasoning import percent

__all__ = ["LETTER_KINDS", "clinician_report_html", "clinician_report_pdf", "readable_citation"]

LetterTo = Literal["gp", "surgeon", "record"]
LETTER_KINDS: tuple[str, ...] = ("gp", "surgeon", "record")

_CSS = """
@page { size: A4; margin: 16mm 18mm 20mm 18mm;
  @bottom-center { content: "Page " counter(page) " of " counter(pages); font-family: "DejaVu Sans", Arial, sans-serif; font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; line-height: 1.4; color: #111; }
h1 { font-size: 14pt; margin: 10pt 0 4pt 0; }
h2 { font-size: 11pt; margin: 12pt 0 4pt 0; border-bottom: 1px solid #999; page-break-after: avoid; }
.letterhead { display: flex; justify-content: space-between; border-bottom: 2px solid #1f4e79; padding-bottom: 4pt; }
.letterhead .clinic { font-size: 13pt; font-weight: bold; color: #1f4e79; }
.letterhead .lines { font-size: 8.5pt; color: #333; }
.letterhead .date { text-align: right; }
.muted { color: #555; font-size: 8.5pt; }
.alert { border: 2px solid #b00020; background: #fdecea; padding: 6pt; margin: 8pt 0; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
th, td { text-align: left; padding: 2pt 4pt; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f1f1f1; }
tr { page-break-inside: avoid; }
.bar-track { display: inline-block; width: 120pt; height: 7pt; background: #e8edf3; }
.bar { display: block; height: 7pt; background: #1f4e79; }
.ci { color: #555; white-space: nowrap; }
sup { font-size: 7pt; color: #1f4e79; }
ol.refs { font-size: 8pt; color: #333; padding-left: 16pt; }
ol.refs li { margin: 1pt 0; }
.signature { margin-top: 14pt; }
img.movement { width: 100%; max-width: 170mm; margin: 4pt 0; page-break-inside: avoid; }
footer { margin-top: 16pt; border-top: 1px solid #999; padding-top: 4pt; font-size: 8pt; color: #444; }
@media screen { body { max-width: 780px; margin: 2em auto; } }
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }} · {{ patient_name }}</title><style>{{ css }}</style></head>
<body>
{% include "_toolbar.html.j2" %}
<header class="letterhead"><div><div class="clinic">{{ clinic or 'Clinic' }}</div>
{% if letterhead %}<div class="lines">{% for line in letterhead %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</div>{% endif %}</div>
<div class="date">{{ today }}</div></header>
<h1>{{ title }}</h1>
<p><strong>Re:</strong> {{ patient_name }}{% if born %}, born {{ born }}{% endif %}{% if patient.identifier %}, record no. {{ patient.identifier }}{% endif %}</p>
{% if salutation %}<p>{{ salutation }}</p>{% endif %}
<p>I assessed {{ patient_name }} on {{ visit_date }}{% if side %} for {{ side }} lateral hip pain{% endif %}.{% if age %} {{ pronoun }} is {{ age }} years old.{% endif %}</p>

{% if red_flags %}
<div class="alert"><strong>Red flag{{ 's' if red_flags|length > 1 }}:</strong>
<ul>{% for f in red_flags %}<li><strong>{{ f.name }}</strong> ({{ f.urgency }}): {{ f.action }}{{ f.refs }} <span class="muted">{{ f.reason }}</span></li>{% endfor %}</ul>
The differential below is given in full; the red flag comes first.</div>
{% endif %}

<h2>Findings</h2>
{% if positives %}<p><strong>Positive:</strong> {{ positives|join('; ') }}.</p>{% endif %}
{% if negatives %}<p><strong>Negative:</strong> {{ negatives|join('; ') }}.</p>{% endif %}
{% if imaging_findings %}<p><strong>Imaging:</strong> {{ imaging_findings|join('; ') }}.</p>{% endif %}
{% if not positives and not negatives and not imaging_findings %}<p>No findings recorded.</p>{% endif %}

{% if conditions %}
<h2>Assessment (decision support)</h2>
<table><tr><th>Condition</th><th>Probability</th><th>95 % interval</th><th></th></tr>
{% for c in conditions %}
<tr><td>{{ c.name }}</td><td>{{ c.probability }}</td><td class="ci">{{ c.interval }}</td>
<td><span class="bar-track"><span class="bar" style="width: {{ c.width_pct }}%"></span></span></td></tr>
{% endfor %}</table>
<p class="muted">Probabilities of different conditions do not add up to 100 %: the conditions can coexist.{% if setting %} Pre-test probabilities for the {{ setting }} setting.{% endif %}</p>
{% endif %}

{% if imaging %}
<h2>Imaging</h2>
<p><strong>{{ imaging.recommendation }}</strong>{% if imaging.urgency %} ({{ imaging.urgency }}){% endif %}.</p>
{% if imaging.reasons %}<ul>{% for r in imaging.reasons %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}
{% if imaging.grade %}<p>Imaging grade: {{ imaging.grade }}.</p>{% endif %}
{% endif %}

{% if plan %}
<h2>Care plan</h2>
<p>{{ plan.intro }}</p>
{% if plan.rule %}<p>Why this stage: {{ plan.rule }}</p>{% endif %}
{% if plan.facts %}<ul>{% for f in plan.facts %}<li>{{ f }}</li>{% endfor %}</ul>{% endif %}
<p>Recommended:</p>
{% if plan.recs %}<ol>{% for r in plan.recs %}<li><strong>{{ r.name }}</strong>{% if r.why %}: {{ r.why }}{% endif %}{{ r.refs }}</li>{% endfor %}</ol>{% endif %}
{% if plan.added %}<p>I have added {{ plan.added }}.</p>{% endif %}
{% if plan.note %}<p>{{ plan.note }}</p>{% endif %}
{% if plan.review %}<p>{{ plan.review }}</p>{% endif %}
{% if plan.escalate %}<p>Please arrange a review, or refer on, if any of these occurs:</p>
<ul>{% for e in plan.escalate %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}
{% endif %}

{% if treatments %}
<h2>Treatment so far</h2>
<table><tr><th>Treatment</th><th>Started</th><th>Response</th></tr>
{% for t in treatments %}<tr><td>{{ t.name }}{% if t.dose %} ({{ t.dose }}){% endif %}</td><td>{{ t.given_on }}</td><td>{{ t.response }}</td></tr>{% endfor %}
</table>{% endif %}

{% if outcomes %}
<h2>Outcome measures</h2>
<table><tr><th>Measure</th><th>First</th><th>Latest</th><th>Interpretation</th></tr>
{% for o in outcomes %}<tr><td>{{ o.name }}</td><td>{{ o.first }}</td><td>{{ o.latest }}</td><td>{{ o.interpretation }}</td></tr>{% endfor %}
</table>{% endif %}

{% if adherence %}
<h2>Exercise programme: adherence and exercise pain</h2>
<table><tr><th>Visit</th><th>Programme and stage</th><th>Sessions done</th><th>Exercise pain (during / after, 0-10)</th><th>Next step</th></tr>
{% for a in adherence %}<tr><td>{{ a.date }}</td><td>{{ a.programme }}, {{ a.stage }}</td><td>{{ a.done }}</td><td>{{ a.pain }}</td><td>{{ a.next }}</td></tr>{% endfor %}
</table>
<p class="small">Sessions done are those the patient recorded since the visit before. The next step was suggested from the programme's rules, some of which are assumptions rather than trial findings, and decided by the clinician.</p>{% endif %}

{% if movement %}
<h2>Movement analysis</h2>
<ul>{% for m in movement %}<li>{{ m.text }}{% if m.still and m.peak %}<figure><img src="{{ m.still }}" alt="Video frame at peak pelvic drop" style="max-width:60%;max-height:12cm">
<figcaption>Video frame at peak pelvic drop ({{ m.peak.side }} leg stance, {% set d = m.peak.pelvic_drop_deg %}{% if d >= 0 %}{{ '%.1f'|format(d) }}° drop on the other side{% else %}the other side {{ '%.1f'|format(-d) }}° higher, no drop{% endif %}), with the pelvis and trunk lines.</figcaption></figure>{% elif m.picture %}<br><img class="movement" src="{{ m.picture }}" alt="{{ m.text }}">{% endif %}</li>{% endfor %}</ul>
{% endif %}

{% if visit.note %}<h2>Clinical note</h2><p>{{ visit.note }}</p>{% endif %}

{% if closing %}<p>{{ closing }}</p>{% endif %}
<p class="signature">Yours sincerely,<br><br>{{ author or 'The treating clinician' }}<br>{{ clinic }}</p>

{% if references %}
<h2>References</h2>
<ol class="refs">{% for r in references %}<li>{{ r }}</li>{% endfor %}</ol>
{% endif %}

<footer>
{{ disclaimer }}<br>
{% for label, v in stamps %}{{ label }}: engine {{ v.engine }}, knowledge base {{ v.kb }} (manifest {{ v.kb_manifest_sha256[:12] }}){% if not loop.last %}; {% endif %}{% endfor %}{% if stamps %}.{% endif %}
Generated {{ generated_at }}.
</footer>
{% if script_src %}<script src="{{ script_src }}"></script>{% endif %}
</body></html>
"""

_ENV = Environment(
    loader=PackageLoader("glutemed.report", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
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
_PLAN_STATUS = {
    "proposed": "The care plan below was proposed by the decision support and has not yet been reviewed.",
    "accepted": "I have agreed the care plan below with the patient.",
    "modified": "I have agreed the care plan below with the patient, adapted from the decision support's proposal.",
    "rejected": "I did not adopt the decision support's proposed plan; it is listed for information.",
}
_PRONOUNS = {"female": "She", "male": "He"}
_CITE_CUT = re.compile(
    r"\s*(?:\(not verified\)|DOI\s+\S+\s+\(not verified\)|Abstract:|Data summary:|summary:|Summary:|https?://).*$",
    re.S,
)
_TOKEN = re.compile(r"(;\s*)?\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")


def readable_citation(citation: str) -> str:
    """Return a citation as a reader sees it in a reference list.

    The knowledge base's citations may end with working notes (links to summaries, "not
    verified" remarks); the reference keeps the authors, title, journal, year and DOI.

    >>> readable_citation("Grimaldi A. Utility of tests. Br J Sports Med 2017. Abstract: https://x")
    'Grimaldi A. Utility of tests. Br J Sports Med 2017.'
    """
    text = " ".join(str(citation).split())
    cut = _CITE_CUT.search(text)
    if cut and cut.start() > 20:
        text = text[: cut.start()]
    text = text.rstrip(" ;,:")
    return text if text.endswith((".", ")")) else text + "."


def _date(value: Any) -> str:
    if not value:
        return ""
    try:
        d = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{d.day} {d:%B %Y}"


def _pct(p: Any) -> str:
    if p is None:
        return "not available"
    return percent(float(p), space=True)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _words(value: Any) -> str:
    return str(value or "").replace("_", " ")


class _References:
    """Numbers the cited sources in order of first citation."""

    def __init__(self, citations: Mapping[str, str]) -> None:
        self._citations = citations
        self._numbers: dict[str, int] = {}
        self.items: list[str] = []

    def number(self, source: Any) -> int | None:
        sid = source.get("id") if isinstance(source, Mapping) else source
        if not isinstance(sid, str):
            return None
        if sid not in self._numbers:
            text = self._citations.get(sid)
            if not text and isinstance(source, Mapping):
                text = source.get("citation")
            if not text or text == sid:
                return None
            self.items.append(readable_citation(text))
            self._numbers[sid] = len(self.items)
        return self._numbers[sid]

    def marks(self, sources: Iterable[Any] | None) -> Markup:
        numbers = sorted({n for s in sources or () if (n := self.number(s)) is not None})
        if not numbers:
            return Markup("")
        return Markup("<sup>[{}]</sup>").format(", ".join(str(n) for n in numbers))


class _Prose:
    """Turns knowledge-base text into letter prose: ids become names or reference numbers."""

    def __init__(self, refs: _References, names: Mapping[str, str]) -> None:
        self._refs = refs
        self._names = names

    def __call__(self, text: Any) -> str:
        def swap(m: re.Match[str]) -> str:
            token = m.group(2)
            if token in self._names:
                return (m.group(1) or "") + self._names[token]
            n = self._refs.number(token)
            if n is not None:
                return f" [{n}]"
            return m.group(0)

        out = _TOKEN.sub(swap, str(text or ""))
        out = out.replace(" -> ", " → ").replace("->", "→")
        return " ".join(out.split())


def _sentences(parts: Iterable[Any], prose: _Prose) -> str:
    out = []
    for p in parts:
        text = prose(p)
        if text:
            out.append(text if text.endswith((".", "!", "?", ")")) else text + ".")
    return " ".join(out)


def _plan_context(
    plan: Mapping[str, Any] | None, refs: _References, prose: _Prose, tx_names: Mapping[str, str]
) -> dict[str, Any] | None:
    if not plan:
        return None
    generated = plan.get("generated") or {}
    decision = plan.get("decision") or {}
    selected = set(decision.get("selected") or [])
    rule = generated.get("stage_rule") or {}
    shared = {str(f) for f in rule.get("facts") or []}
    items = []
    for r in generated.get("recommendations") or []:
        rid = r.get("id")
        if plan.get("status") == "modified" and selected and rid not in selected:
            continue
        why = r.get("why")
        why = why if isinstance(why, list) else [why]
        # the stage's facts are said once, below the stage; each item keeps its own reason
        why = [w for i, w in enumerate(why) if i == 0 or str(w) not in shared]
        items.append(
            {
                "name": r.get("treatment") or r.get("name") or tx_names.get(str(rid), ""),
                "why": _sentences(why, prose),
                "refs": refs.marks(r.get("sources")),
            }
        )
    added = [tx_names[t] for t in decision.get("added") or [] if t in tx_names]
    escalate = []
    for e in generated.get("escalate_if") or []:
        if isinstance(e, Mapping):
            text = _sentences([e.get("text")], prose)
            escalate.append(Markup("{}{}").format(text, refs.marks(e.get("sources"))))
        else:
            escalate.append(Markup("{}").format(_sentences([e], prose)))
    stage = generated.get("plain_stage_name") or ""
    intro = _PLAN_STATUS.get(str(plan.get("status")), _PLAN_STATUS["proposed"])
    if stage:
        intro = f"{intro} Stage of care: {stage}."
    if added:
        added_text = ", ".join(added[:-1]) + (" and " if len(added) > 1 else "") + added[-1]
    else:
        added_text = ""
    return {
        "intro": intro,
        "rule": Markup("{}{}").format(
            _sentences([rule.get("text")], prose), refs.marks(rule.get("sources"))
        )
        if rule.get("text")
        else "",
        "facts": [_sentences([f], prose) for f in rule.get("facts") or []],
        "recs": items,
        "added": added_text,
        "note": prose(decision.get("note") or ""),
        "review": _sentences([generated.get("review")], prose) if generated.get("review") else "",
        "escalate": escalate,
    }


def _source_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _context(
    data: Mapping[str, Any],
    letter_to: str,
    toolbar: Sequence[tuple[str, str]],
    script_src: str,
) -> dict[str, Any]:
    if letter_to not in LETTER_KINDS:
        from glutemed._checks import check_option

        check_option("letter_to", letter_to, LETTER_KINDS)
    patient = dict(data.get("patient") or {})
    visit = dict(data.get("visit") or {})
    case = dict(visit.get("case") or {})
    names = dict(data.get("finding_names") or {})
    tx_names = dict(data.get("treatment_names") or {})
    refs = _References(dict(data.get("sources") or {}))
    prose = _Prose(refs, {**names, **tx_names})
    findings = case.get("findings") or {}
    derived = dict(data.get("derived_absent") or {})

    def finding_text(fid: str) -> str:
        text = prose(names.get(fid, fid))
        implied = [prose(names.get(f, f)) for f in derived.get(fid) or []]
        if implied:  # e.g. a complete pain map: the sites it leaves unmarked are absent
            text += ", so absent: " + ", ".join(lower_first(x) for x in implied)
        return text

    positives = [finding_text(f) for f, v in findings.items() if v == "positive"]
    negatives = [prose(names.get(f, f)) for f, v in findings.items() if v == "negative"]
    graded = [
        f"{prose(names.get(f, f))}: {_words(v)}"
        for f, v in findings.items()
        if v not in ("positive", "negative", "not_done")
    ]
    positives.extend(graded)
    imaging_findings = [
        finding_text(f)
        if v == "positive" and derived.get(f)
        else f"{prose(names.get(f, f))}: {_words(v)}"
        for f, v in (case.get("imaging") or {}).items()
        if v != "not_done"
    ]
    assessment = data.get("assessment") or {}
    red_flags = [
        {
            "name": f.get("name", ""),
            "urgency": _words(f.get("urgency")),
            "action": prose(f.get("action")),
            "reason": prose(str(f.get("reason") or "").replace("positive:", "Positive:", 1)),
            "refs": refs.marks(_source_list(f.get("sources"))),
        }
        for f in assessment.get("red_flags") or []
    ]
    conditions = [
        {
            "name": c.get("name", ""),
            "probability": _pct(c.get("probability")),
            "interval": f"{_pct(c['interval'][0])} to {_pct(c['interval'][1])}"
            if c.get("interval")
            else "not computed",
            "width_pct": round(max(0.0, min(1.0, float(c.get("probability") or 0))) * 100, 1),
        }
        for c in (assessment.get("conditions") or [])[:6]
    ]
    imaging = None
    advice = assessment.get("imaging")
    if advice:
        urgency = str(advice.get("urgency") or "")
        severity = assessment.get("severity") or {}
        grade = ""
        if severity.get("grade") and severity.get("grade") != "not_imaged":
            grade = _words(severity["grade"])
            if severity.get("flags"):
                grade += "; " + "; ".join(prose(f) for f in severity["flags"])
        reasons = [
            Markup("{}{}").format(prose(r.get("text")), refs.marks(_source_list(r.get("sources"))))
            for r in advice.get("reasons") or []
        ]
        imaging = {
            "recommendation": _capital(prose(advice.get("recommendation"))),
            "urgency": "" if urgency in ("none", "routine", "") else _words(urgency),
            "reasons": reasons,
            "grade": grade,
        }
    plan = data.get("plan")
    plan_ctx = _plan_context(plan, refs, prose, tx_names)
    outcomes = []
    for o in (data.get("outcomes") or {}).values():
        points = o.get("points") or []
        if not points:
            continue
        change = o.get("change") or {}
        outcomes.append(
            {
                "name": o.get("name", ""),
                "first": f"{points[0][1]} ({_date(points[0][0])})",
                "latest": f"{points[-1][1]} ({_date(points[-1][0])})" if len(points) > 1 else "",
                "interpretation": prose(change.get("explanation"))
                if change
                else "One measurement so far.",
            }
        )
    adherence = []
    actions = {"progress": "progress", "stay": "stay", "regress": "go back"}
    for a in data.get("adherence") or []:
        done, planned = a.get("sessions_done"), a.get("sessions_prescribed")
        during, after = a.get("pain_during_max"), a.get("pain_after_max")
        suggested = actions.get(str((a.get("suggestion") or {}).get("action")), "")
        decided = actions.get(str(a.get("decision") or ""), "")
        adherence.append(
            {
                "date": _date(a.get("date")),
                "programme": prose(a.get("programme")),
                "stage": prose(a.get("stage")),
                "done": f"{done} of {planned} ({100 * done / planned:.0f} %)"
                if done is not None and planned
                else "not recorded",
                "pain": f"{'-' if during is None else during} / {'-' if after is None else after}",
                "next": (f"suggested: {suggested}" if suggested else "")
                + (f"; decided: {decided}" if decided else ""),
            }
        )
    movement = []
    for m in data.get("movement") or []:
        parts = [
            f"{prose(names.get(k, k))} {_words(v)}" for k, v in (m.get("findings") or {}).items()
        ]
        task = _words(m.get("task")).capitalize() or "Movement"
        png = m.get("picture_png") or b""
        movement.append(
            {
                "text": f"{task}: " + ("; ".join(parts) if parts else "no finding derived") + ".",
                "picture": "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                if isinstance(png, bytes) and png.startswith(b"\x89PNG")
                else "",
                "still": m.get("still_png_data_uri") or "",
                "peak": m.get("peak_pelvic_drop"),
            }
        )
    treatments = [
        {
            "name": t.get("name", ""),
            "dose": t.get("dose") or "",
            "given_on": _date(t.get("given_on")),
            "response": _words(t.get("response")),
        }
        for t in data.get("treatments") or []
    ]
    stamps: list[tuple[str, Mapping[str, Any]]] = []
    if assessment and assessment.get("versions"):
        stamps.append(("Assessment", assessment["versions"]))
    if plan and (plan.get("generated") or {}).get("versions"):
        stamps.append(("Care plan", plan["generated"]["versions"]))
    age = (case.get("patient") or {}).get("age_years")
    letterhead = data.get("letterhead") or []
    if isinstance(letterhead, str):
        letterhead = [line.strip() for line in letterhead.splitlines() if line.strip()]
    generated_at = data.get("generated_at") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "css": Markup(_CSS),  # trusted constant: not escaped, so the PDF gets its font and pages
        "toolbar": list(toolbar),
        "script_src": script_src,
        "title": _TITLES[letter_to],
        "clinic": data.get("clinic", ""),
        "letterhead": [str(line) for line in letterhead],
        "author": data.get("author", ""),
        "today": _date(dt.date.today().isoformat()),
        "patient": patient,
        "born": _date(patient.get("birth_date")),
        "pronoun": _PRONOUNS.get(str(patient.get("sex") or ""), "The patient"),
        "patient_name": " ".join(
            x for x in (patient.get("given_name"), patient.get("family_name")) if x
        )
        or "the patient",
        "visit": visit,
        "visit_date": _date(visit.get("visit_date")),
        "setting": _words(case.get("setting")),
        "side": case.get("side") if case.get("side") not in (None, "unknown") else "",
        "age": f"{age:.0f}" if isinstance(age, int | float) else "",
        "salutation": _SALUTATIONS[letter_to],
        "closing": _CLOSINGS[letter_to],
        "positives": positives,
        "negatives": negatives,
        "imaging_findings": imaging_findings,
        "red_flags": red_flags,
        "conditions": conditions,
        "imaging": imaging,
        "plan": plan_ctx,
        "treatments": treatments,
        "outcomes": outcomes,
        "adherence": adherence,
        "movement": movement,
        "references": refs.items,
        "disclaimer": _DISCLAIMER,
        "stamps": stamps,
        "generated_at": _date(generated_at)
        + (f", {generated_at[11:16]} UTC" if len(str(generated_at)) > 15 else ""),
    }


def clinician_report_html(
    data: Mapping[str, Any],
    *,
    letter_to: LetterTo | str = "gp",
    toolbar: Sequence[tuple[str, str]] = (),
    script_src: str = "",
) -> str:
    """Return the clinician report as a standalone printable HTML page.

    Parameters
    ----------
    data
        The report data (keys in the module docstring).
    letter_to
        ``"gp"`` (letter to the general practitioner), ``"surgeon"`` (referral letter) or
        ``"record"`` (assessment summary for the clinical record).
    toolbar
        ``(label, href)`` links shown above the letter on screen and never printed (e.g. back
        to the visit, the PDF).
    script_src
        URL of a script that makes the "Print" button work (``[data-action=print]``); without it
        no print button is shown.
    """
    # the references are numbered while the body is built, so build the context once
    return _COMPILED.render(**_context(data, letter_to, toolbar, script_src))


def clinician_report_pdf(data: Mapping[str, Any], *, letter_to: LetterTo | str = "gp") -> bytes:
    """Return the clinician report as PDF bytes (A4, rendered with WeasyPrint)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf = HTML(string=clinician_report_html(data, letter_to=letter_to)).write_pdf()
    return bytes(pdf or b"")
