"""Schema of ``network.yaml``: the diagnosis network's structure and numbers.

Every number of the network is a :class:`NetParam` (or a plain number that takes its provenance
from the enclosing block's ``basis``/``reason``/``n``/``source``). :func:`resolve_param` turns
either form into a :class:`Param` with its provenance filled in, so that the engine never sees a
number without a source or a labelled assumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from glutemed._checks import closest, short_repr
from glutemed.errors import Problem
from glutemed.knowledge._schema import Mark, NonEmpty, SourceRef, _Strict

__all__ = [
    "AGE_BANDS",
    "Basis",
    "CpdFinding",
    "DemographicModifier",
    "LatentConstruct",
    "LatentMember",
    "MustNotMiss",
    "NetParam",
    "NetworkSpec",
    "Param",
    "SettingNetwork",
    "TableFinding",
    "TendonSpec",
    "age_band",
    "check_network",
    "network_numbers",
    "resolve_param",
]

Basis = Literal["study", "case_series", "assumption", "logic"]

#: Age bands of the demographic modifiers (years, lower bound inclusive).
AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("under_35", 0.0),
    ("35_to_49", 35.0),
    ("50_to_64", 50.0),
    ("65_and_over", 65.0),
)

#: Effective sample size of an assumption that does not state one (wide interval).
DEFAULT_ASSUMPTION_N = 8.0


def age_band(age_years: float) -> str:
    """Return the demographic age band of an age in years."""
    band = AGE_BANDS[0][0]
    for name, lower in AGE_BANDS:
        if age_years >= lower:
            band = name
    return band


class NetParam(_Strict):
    """One number of the network with its provenance."""

    value: float = Field(ge=0)
    n: float | None = Field(default=None, gt=0, description="Size of the study (or effective n).")
    basis: Basis | None = None
    reason: str = ""
    source: SourceRef | None = None
    marks: list[Mark] = Field(default_factory=list)
    note: str = ""
    given: list[NonEmpty] = Field(
        default_factory=list,
        description=(
            "For a prior: the findings (all positive) that define the study's population; the "
            "value is then P(condition | those findings) and the network's unconditional prior "
            "is solved so that it reproduces the value."
        ),
    )


class _Provenance(_Strict):
    """Defaults for the plain numbers of a block."""

    basis: Basis | None = None
    reason: str = ""
    n: float | None = Field(default=None, gt=0)
    source: SourceRef | None = None
    marks: list[Mark] = Field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Param:
    """A resolved number: value, effective n for its uncertainty, and where it comes from."""

    value: float
    n: float
    basis: Basis
    source_id: str | None
    locator: str
    reason: str
    marks: tuple[str, ...]

    @property
    def is_assumption(self) -> bool:
        """True for a labelled assumption (no study behind the number)."""
        return self.basis == "assumption"


def resolve_param(raw: float | NetParam, block: _Provenance, where: str) -> Param:
    """Resolve a plain number or a :class:`NetParam` against its block's provenance.

    Raises
    ------
    ValueError
        When the number ends up with neither a study source nor a labelled assumption.
    """
    if isinstance(raw, NetParam):
        basis = raw.basis or (block.basis if raw.source is None else "study")
        source = raw.source or (block.source if raw.basis in (None, "study") else None)
        n = raw.n if raw.n is not None else block.n
        reason = raw.reason or (block.reason if basis == block.basis else "")
        marks = tuple(raw.marks) or tuple(block.marks)
        value = raw.value
    else:
        basis, source, n, reason, marks = (
            block.basis,
            block.source,
            block.n,
            block.reason,
            tuple(block.marks),
        )
        value = float(raw)
    if basis is None:
        basis = "study" if source is not None else None
    if basis is None:
        raise ValueError(f"{where}: a number needs a source or basis: assumption with a reason")
    if basis == "study" and source is None:
        raise ValueError(f"{where}: a study value needs its source")
    if basis in ("assumption", "logic") and not reason:
        raise ValueError(f"{where}: an assumption needs its reason")
    if n is None:
        n = DEFAULT_ASSUMPTION_N if basis == "assumption" else 1e6 if basis == "logic" else None
    if n is None:
        raise ValueError(f"{where}: a study value needs the study's n")
    return Param(
        value=value,
        n=float(n),
        basis=basis,
        source_id=None if source is None else source.id,
        locator="" if source is None else source.locator,
        reason=reason,
        marks=marks,
    )


ParamLike = float | NetParam


class TendonAggregate(_Strict):
    id: NonEmpty
    states: list[NonEmpty] = Field(min_length=1)


class TendonSpec(_Strict):
    """The nested gluteal-tendon variable: its non-'none' states and their aggregates."""

    id: NonEmpty
    name: NonEmpty
    states: list[NonEmpty] = Field(min_length=2)
    aggregates: list[TendonAggregate] = Field(default_factory=list)


class MustNotMiss(_Strict):
    condition: NonEmpty
    threshold: float = Field(gt=0, lt=1)
    urgency: Literal["emergency_same_day", "urgent", "soon"]
    action: NonEmpty
    rule_out: list[NonEmpty] = Field(min_length=1)
    sources: list[SourceRef] = Field(min_length=1)


class SharedRuleOut(_Strict):
    """Must-not-miss conditions that one test rules out together (e.g. one MRI of the pelvis for
    the stress fractures of the femoral neck, pubic ramus and sacrum). The test is worth doing
    when P(at least one of them) reaches the group's threshold, even when each member alone is
    below its own threshold (the test threshold concerns what the test can find)."""

    id: NonEmpty
    name: NonEmpty
    members: list[NonEmpty] = Field(min_length=2)
    threshold: float = Field(gt=0, lt=1)
    test: NonEmpty
    basis: Literal["assumption"]
    reason: NonEmpty
    sources: list[SourceRef] = Field(min_length=1)


class SettingNetwork(_Provenance):
    setting: NonEmpty
    description: NonEmpty
    same_as: str | None = None
    priors: dict[str, ParamLike] = Field(default_factory=dict)
    tendon_split: dict[str, ParamLike] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> SettingNetwork:
        if self.same_as is None and (not self.priors or not self.tendon_split):
            raise ValueError("a setting needs priors and tendon_split (or same_as)")
        return self


AgeBand = Literal["under_35", "35_to_49", "50_to_64", "65_and_over"]


class AgeMix(_Provenance):
    """The age mix of the people each setting's priors describe.

    The age likelihood ratios of ``demographics`` are those of the ``reference`` setting's
    presenters; in another setting they are rescaled by the ratio of their mean over the
    reference's age mix to their mean over that setting's, so that a setting's prior stays the
    average over its own patients (a young sports-medicine clinic's FAI prior is not raised
    again by the ratio for youth).
    """

    reference: NonEmpty
    shares: dict[NonEmpty, dict[AgeBand, float]] = Field(min_length=1)


class DemographicModifier(_Provenance):
    condition: NonEmpty
    age: dict[AgeBand, ParamLike] = Field(default_factory=dict)
    sex: dict[Literal["female", "male"], ParamLike] = Field(default_factory=dict)


class CpdFinding(_Provenance):
    """A leaky noisy-OR finding."""

    finding: NonEmpty
    leak: ParamLike
    causes: dict[str, ParamLike] = Field(min_length=1)


class LatentMember(_Strict):
    if_present: float = Field(ge=0, le=1)
    if_absent: float = Field(ge=0, le=1)
    note: NonEmpty


class LatentConstruct(_Provenance):
    id: NonEmpty
    name: NonEmpty
    leak: ParamLike
    causes: dict[str, ParamLike] = Field(min_length=1)
    members: dict[str, LatentMember] = Field(min_length=2)


class TableFinding(_Provenance):
    finding: NonEmpty
    parent: NonEmpty
    levels: list[NonEmpty] = Field(min_length=2)
    rows: dict[str, list[float]] = Field(min_length=2)

    @model_validator(mode="after")
    def _rows_are_distributions(self) -> TableFinding:
        for state, row in self.rows.items():
            if len(row) != len(self.levels):
                raise ValueError(
                    f"row {state!r} has {len(row)} values for {len(self.levels)} levels"
                )
            if any(v < 0 for v in row) or abs(sum(row) - 1.0) > 1e-6:
                raise ValueError(
                    f"row {state!r} must be probabilities summing to 1, got {sum(row)}"
                )
        return self


class Expansion(_Strict):
    negative: list[NonEmpty] = Field(min_length=1)


class Implication(_Strict):
    """Findings that a finding recorded present makes certain.

    A Trendelenburg gait is an abnormal gait: once it is recorded, "abnormal gait on
    observation" is implied and carries no evidence of its own (it is the same observation), so
    the engine leaves the implied findings out of the evidence and out of the next tests.
    """

    positive: list[NonEmpty] = Field(min_length=1)
    reason: NonEmpty


class Unrecorded(_Provenance):
    """Findings whose absence from a record that describes some of them is weak evidence.

    When at least one of ``findings`` is recorded present, each of the others that the record
    leaves out (neither present, absent nor "not done") is observed absent in a second
    noisy-OR: "the finding is recorded", with every cause's value and the leak multiplied by
    ``mention`` (the probability that a finding the patient has is recorded when the record
    describes the others).
    """

    findings: list[NonEmpty] = Field(min_length=2)
    mention: ParamLike


class NetworkSpec(_Strict):
    """The whole of ``network.yaml``."""

    version: NonEmpty
    tendon: TendonSpec
    conditions: list[NonEmpty] = Field(min_length=1)
    must_not_miss_basis: _Provenance
    must_not_miss: list[MustNotMiss]
    shared_rule_out: list[SharedRuleOut] = Field(default_factory=list)
    settings: list[SettingNetwork] = Field(min_length=1)
    demographics: list[DemographicModifier] = Field(default_factory=list)
    age_mix: AgeMix | None = None
    presentation_basis: _Provenance | None = None
    findings: list[CpdFinding] = Field(default_factory=list)
    latents: list[LatentConstruct] = Field(default_factory=list)
    tables: list[TableFinding] = Field(default_factory=list)
    expands: dict[str, Expansion] = Field(default_factory=dict)
    implies: dict[str, Implication] = Field(default_factory=dict)
    unrecorded: Unrecorded | None = None

    def blocks(self) -> list[tuple[str, Any]]:
        """Return (label, block) for every block that holds numbers (for checks and counts)."""
        out: list[tuple[str, Any]] = [("settings." + s.setting, s) for s in self.settings]
        out += [("demographics." + d.condition, d) for d in self.demographics]
        out += [("findings." + f.finding, f) for f in self.findings]
        out += [("latents." + la.id, la) for la in self.latents]
        return out


def check_network(
    net: NetworkSpec,
    *,
    conditions: Mapping[str, Any],
    findings: Mapping[str, list[str]],
    sources: Mapping[str, Any],
) -> list[Problem]:
    """Cross-check the network against the rest of the knowledge base.

    Every condition and finding id must exist, every number must resolve to a study value or a
    labelled assumption, every setting must give a prior for every variable, probabilities must
    lie in [0, 1], and the tendon split must sum to 1.
    """
    problems: list[Problem] = []
    where = "network.yaml"

    def need(table: Mapping[str, Any], ident: str, loc: str, what: str) -> None:
        if ident not in table:
            near = closest(ident, table)
            problems.append(
                Problem(
                    f"{where} {loc}",
                    f"a known {what} id",
                    short_repr(ident),
                    f"did you mean {', '.join(near)}?" if near else "",
                )
            )

    aggs = {a.id for a in net.tendon.aggregates}
    cond_ids = {*net.tendon.states, *net.conditions}
    parents = cond_ids | aggs
    for s in (*net.tendon.states, *net.conditions, *aggs):
        need(conditions, s, "conditions", "condition")
    for a in net.tendon.aggregates:
        for s in a.states:
            if s not in net.tendon.states:
                problems.append(Problem(f"{where} tendon.aggregates.{a.id}", "a tendon state", s))

    def param(raw: Any, block: Any, loc: str, *, probability: bool = True) -> None:
        try:
            par = resolve_param(raw, block, loc)
        except ValueError as exc:
            problems.append(
                Problem(f"{where} {loc}", "a sourced number or a labelled assumption", str(exc))
            )
            return
        if probability and not 0.0 <= par.value <= 1.0:
            problems.append(Problem(f"{where} {loc}", "a probability in [0, 1]", str(par.value)))
        if par.source_id is not None:
            need(sources, par.source_id, loc + ".source", "source")

    for m in net.must_not_miss:
        if m.condition not in net.conditions:
            problems.append(
                Problem(f"{where} must_not_miss", "a binary condition of the network", m.condition)
            )
        for fid in m.rule_out:
            need(findings, fid, f"must_not_miss.{m.condition}.rule_out", "finding")
        for ref in m.sources:
            need(sources, ref.id, f"must_not_miss.{m.condition}.sources", "source")
    mnm_ids = {m.condition for m in net.must_not_miss}
    in_group: dict[str, str] = {}
    for g in net.shared_rule_out:
        for cid in g.members:
            if cid in in_group:
                problems.append(
                    Problem(
                        f"{where} shared_rule_out.{g.id}.members",
                        "a condition in one group only",
                        f"{cid} (already in {in_group[cid]})",
                    )
                )
            in_group.setdefault(cid, g.id)
        for cid in g.members:
            if cid not in mnm_ids:
                problems.append(
                    Problem(
                        f"{where} shared_rule_out.{g.id}.members", "a must-not-miss condition", cid
                    )
                )
        if len(set(g.members)) != len(g.members):
            problems.append(
                Problem(
                    f"{where} shared_rule_out.{g.id}.members",
                    "distinct conditions",
                    ", ".join(g.members),
                )
            )
        for ref in g.sources:
            need(sources, ref.id, f"shared_rule_out.{g.id}.sources", "source")
    settings = {s.setting for s in net.settings}
    for sn in net.settings:
        if sn.same_as is not None:
            if sn.same_as not in settings:
                problems.append(
                    Problem(f"{where} settings.{sn.setting}.same_as", "a setting", sn.same_as)
                )
            continue
        want = {"gtps", net.tendon.states[-1], *net.conditions}
        missing = sorted(want - set(sn.priors))
        if missing:
            problems.append(
                Problem(
                    f"{where} settings.{sn.setting}.priors",
                    "a prior for every variable",
                    "no prior for " + ", ".join(missing),
                )
            )
        for cid, raw in sn.priors.items():
            if isinstance(raw, NetParam):
                for fid in raw.given:
                    need(findings, fid, f"settings.{sn.setting}.priors.{cid}.given", "finding")
            if cid not in want:
                problems.append(
                    Problem(f"{where} settings.{sn.setting}.priors", "a network variable", cid)
                )
            param(raw, sn, f"settings.{sn.setting}.priors.{cid}")
        split_ids = set(net.tendon.states[:-1])
        if set(sn.tendon_split) != split_ids:
            problems.append(
                Problem(
                    f"{where} settings.{sn.setting}.tendon_split",
                    "one share per tendon state except the last",
                    ", ".join(sorted(sn.tendon_split)),
                )
            )
        total = 0.0
        for sid, raw in sn.tendon_split.items():
            param(raw, sn, f"settings.{sn.setting}.tendon_split.{sid}")
            total += raw.value if isinstance(raw, NetParam) else float(raw)
        if abs(total - 1.0) > 0.011:
            problems.append(
                Problem(
                    f"{where} settings.{sn.setting}.tendon_split",
                    "shares summing to 1",
                    f"{total:.3f}",
                )
            )
    if net.age_mix is not None:
        mix = net.age_mix
        if mix.reference not in mix.shares:
            problems.append(
                Problem(f"{where} age_mix.reference", "a setting with shares", mix.reference)
            )
        for sn in net.settings:
            if sn.same_as is None and sn.setting not in mix.shares:
                problems.append(
                    Problem(f"{where} age_mix.shares", "an age mix for every setting", sn.setting)
                )
        for sid, shares in mix.shares.items():
            if sid not in settings:
                problems.append(Problem(f"{where} age_mix.shares", "a setting", sid))
            bands = [b for b, _ in AGE_BANDS]
            if sorted(shares) != sorted(bands) or any(v < 0 for v in shares.values()):
                problems.append(
                    Problem(
                        f"{where} age_mix.shares.{sid}",
                        "a non-negative share for each age band: " + ", ".join(bands),
                        ", ".join(f"{k}: {v}" for k, v in shares.items()),
                    )
                )
            elif abs(sum(shares.values()) - 1.0) > 0.011:
                problems.append(
                    Problem(
                        f"{where} age_mix.shares.{sid}",
                        "shares summing to 1",
                        f"{sum(shares.values()):.3f}",
                    )
                )
    for dm in net.demographics:
        if dm.condition not in parents:
            need(conditions, dm.condition, "demographics", "network condition")
        for key, table in (("age", dm.age), ("sex", dm.sex)):
            for level, raw in table.items():
                param(raw, dm, f"demographics.{dm.condition}.{key}.{level}", probability=False)
    seen: dict[str, str] = {}

    def register(fid: str, loc: str) -> None:
        need(findings, fid, loc, "finding")
        if fid in seen:
            problems.append(
                Problem(
                    f"{where} {loc}", "each finding modelled once", f"{fid} also in {seen[fid]}"
                )
            )
        seen.setdefault(fid, loc)

    def noisy_or(block: CpdFinding | LatentConstruct, label: str) -> None:
        """The leak and every cause of a noisy-OR finding or latent construct."""
        param(block.leak, block, f"{label}.leak")
        for cid, raw in block.causes.items():
            if cid not in parents:
                problems.append(Problem(f"{where} {label}.causes", "a network condition", cid))
            param(raw, block, f"{label}.causes.{cid}")

    for cf in net.findings:
        register(cf.finding, f"findings.{cf.finding}")
        noisy_or(cf, f"findings.{cf.finding}")
    for la in net.latents:
        noisy_or(la, f"latents.{la.id}")
        for fid in la.members:
            register(fid, f"latents.{la.id}.members.{fid}")
    for tb in net.tables:
        register(tb.finding, f"tables.{tb.finding}")
        param(1.0, tb, f"tables.{tb.finding}")
        if tb.finding in findings and findings[tb.finding] and findings[tb.finding] != tb.levels:
            problems.append(
                Problem(
                    f"{where} tables.{tb.finding}.levels",
                    "the finding's levels " + ", ".join(findings[tb.finding]),
                    ", ".join(tb.levels),
                )
            )
        cols = ("none", *net.tendon.states) if tb.parent == net.tendon.id else ("absent", "present")
        if tb.parent != net.tendon.id and tb.parent not in net.conditions:
            problems.append(
                Problem(
                    f"{where} tables.{tb.finding}.parent",
                    "the tendon variable or a condition",
                    tb.parent,
                )
            )
        if set(tb.rows) != set(cols):
            problems.append(
                Problem(
                    f"{where} tables.{tb.finding}.rows",
                    "one row per parent state: " + ", ".join(cols),
                    ", ".join(tb.rows),
                )
            )
    for fid, ex in net.expands.items():
        need(findings, fid, f"expands.{fid}", "finding")
        for neg in ex.negative:
            if neg not in seen:
                problems.append(Problem(f"{where} expands.{fid}", "a modelled finding", neg))
    noisy = {f.finding for f in net.findings}
    for fid, imp in net.implies.items():
        if fid not in seen:
            problems.append(Problem(f"{where} implies", "a modelled finding", fid))
        for implied in imp.positive:
            if implied not in noisy or implied == fid:
                expected = "a noisy-OR finding other than itself"
                problems.append(Problem(f"{where} implies.{fid}", expected, implied))
            elif implied in net.implies:  # a chain or a cycle would drop evidence twice over
                expected = "a finding that implies nothing itself"
                problems.append(Problem(f"{where} implies.{fid}", expected, implied))
    if net.unrecorded is not None:
        for fid in net.unrecorded.findings:
            if fid not in noisy:
                problems.append(
                    Problem(
                        f"{where} unrecorded.findings", "a noisy-OR finding of the network", fid
                    )
                )
        try:
            mention = resolve_param(net.unrecorded.mention, net.unrecorded, "unrecorded.mention")
        except ValueError as exc:
            problems.append(
                Problem(f"{where} unrecorded.mention", "a sourced or labelled number", str(exc))
            )
        else:
            if not 0.0 < mention.value <= 1.0:
                problems.append(
                    Problem(
                        f"{where} unrecorded.mention", "a probability above 0", str(mention.value)
                    )
                )
    return problems


def network_numbers(net: NetworkSpec) -> list[Param]:
    """Every number of the network, resolved with its provenance (for counts and audits)."""
    out: list[Param] = []
    for label, block in net.blocks():
        if isinstance(block, SettingNetwork):
            if block.same_as is not None:
                continue
            raws = [*block.priors.values(), *block.tendon_split.values()]
        elif isinstance(block, DemographicModifier):
            raws = [*block.age.values(), *block.sex.values()]
        else:
            raws = [block.leak, *block.causes.values()]
        out += [resolve_param(raw, block, label) for raw in raws]
    for tb in net.tables:
        par = resolve_param(1.0, tb, f"tables.{tb.finding}")
        out += [par] * sum(len(r) for r in tb.rows.values())
    if net.unrecorded is not None:
        out.append(resolve_param(net.unrecorded.mention, net.unrecorded, "unrecorded.mention"))
    return out
