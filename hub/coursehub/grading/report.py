"""What the course page's grades tab (and `coursehub grades status`) shows, as data: per
assignment its max score and how many students submitted, are graded and have feedback; per
student the score and the last send. Pure: the callers read the gradebook, sends and folders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..core.grades import StudentScore

STATUS_WORDS = {
    "sent": "sent",
    "failed": "failed",
    "impossible": "not possible",
    "skip": "not sent",
}


@dataclass(frozen=True)
class AssignmentRow:
    name: str
    max_score: float
    submitted: int
    graded: int
    feedback: int
    sent: int
    failed: int


@dataclass(frozen=True)
class StudentRow:
    student: str
    name: str
    score: str
    last_score: str
    last_when: str
    status: str
    detail: str


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def assignment_rows(
    maxima: Mapping[str, float], scores: Mapping[str, Mapping[str, StudentScore]],
    feedback: Mapping[str, int], sends: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[AssignmentRow]:
    rows = []
    for name, maximum in maxima.items():
        subs = scores.get(name, {})
        last = [s for (a, _), s in sends.items() if a == name]
        rows.append(AssignmentRow(
            name=name, max_score=maximum, submitted=len(subs),
            graded=sum(1 for s in subs.values() if not s.needs_manual_grade),
            feedback=feedback.get(name, 0),
            sent=sum(1 for s in last if s["status"] == "sent"),
            failed=sum(1 for s in last if s["status"] == "failed"),
        ))
    return rows


def student_rows(
    assignment: str, students: Sequence[str], scores: Mapping[str, StudentScore],
    names: Mapping[str, str], sends: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[StudentRow]:
    rows = []
    for student in sorted(set(students) | set(scores)):
        score = scores.get(student)
        last = sends.get((assignment, student))
        shown = "not submitted" if score is None else (
            f"{score.score:g} (needs manual grading)" if score.needs_manual_grade else f"{score.score:g}")
        rows.append(StudentRow(
            student=student, name=names.get(student, ""), score=shown,
            last_score=_num(last.get("score_given")) if last and last["status"] == "sent" else "",
            last_when=last["sent_at"].strftime("%Y-%m-%d %H:%M UTC") if last and last.get("sent_at") else "",
            status=STATUS_WORDS.get(last["status"], last["status"]) if last else "",
            detail=str(last.get("detail") or "") if last else "",
        ))
    return rows
