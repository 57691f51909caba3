"""Sequences pages: list (the Manage columns), builder, enroll dialog, Enrollments tab with bulk actions, and
the task queue. Views parse, call one service or selector, render; numbers come from the report pipeline."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from touchline.reports.pipeline import report_run
from touchline.sequences import selectors, sending, services
from touchline.sequences.forms import BulkForm, EnrollForm, SequenceForm, StepForm
from touchline.sequences.models import EnrollmentStatus, Sequence, Task


def _sequence(request, sequence_id: int) -> Sequence:
    try:
        return selectors.sequence_get(request.account, sequence_id)
    except Sequence.DoesNotExist:
        raise Http404("No such sequence") from None


def _errors_to_form(form, error: ValidationError) -> None:
    for field, field_messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_messages)


@login_required
def sequence_list(request):
    """The Manage list: the per-sequence report, sortable by any of its columns (a rate of "—" sorts last)."""
    result = report_run("sequence_performance", account=request.account, data={})
    sort = request.GET.get("sort", "")
    key = sort.lstrip("-")
    rows = list(result.rows)
    if key in {c.key for c in result.columns}:
        present = [r for r in rows if r.get(key) is not None]
        present.sort(key=lambda r: (r[key], r["sequence"]), reverse=sort.startswith("-"))
        rows = present + [r for r in rows if r.get(key) is None]
    return render(request, "sequences/sequence_list.html", {"result": result, "rows": rows, "sort": sort})


@login_required
def sequence_create(request):
    form = SequenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sequence = services.sequence_create(account=request.account, owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, "Sequence created: add its steps.")
            return redirect("sequences:detail", sequence_id=sequence.pk)
    return render(request, "sequences/sequence_form.html", {"form": form})


@login_required
def sequence_detail(request, sequence_id: int):
    sequence = _sequence(request, sequence_id)
    form = StepForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.step_add(sequence=sequence, owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, "Step added.")
            return redirect("sequences:detail", sequence_id=sequence.pk)
    steps = list(selectors.steps_of(sequence))
    sample = selectors.contacts_to_enroll(request.account, request.GET.get("preview", "")).first()
    return render(request, "sequences/sequence_detail.html", {
        "sequence": sequence, "steps": steps, "form": form, "counts": selectors.enrollment_counts(sequence),
        "sample": sample, "previews": _previews(request, steps, sample)})


def _previews(request, steps, sample) -> dict[int, dict]:
    """Each email step rendered for a sample contact, or the error that would block its send."""
    from touchline.sequences.models import Inbox
    from touchline.sequences.rendering import RenderError, render_email, token_values

    if sample is None:
        return {}
    inbox = selectors.inboxes_of(request.account).filter(user=request.user).first() or Inbox(
        from_name=request.user.get_full_name() or request.user.username, from_email=request.user.email)
    values = token_values(contact=sample, company=sample.company, sender_user=request.user, inbox=inbox)
    previews = {}
    for step in steps:
        if step.template is not None:
            try:
                rendered = render_email(subject=step.template.subject, body=step.template.body, values=values)
                previews[step.pk] = {"subject": rendered.subject, "text": rendered.text}
            except RenderError as error:
                previews[step.pk] = {"error": str(error)}
    return previews


@login_required
@require_POST
def sequence_delete(request, sequence_id: int):
    services.sequence_archive(sequence=_sequence(request, sequence_id))
    messages.success(request, "Sequence deleted; its history stays in the reports.")
    return redirect("sequences:list")


@login_required
def sequence_enroll(request, sequence_id: int):
    sequence = _sequence(request, sequence_id)
    q = request.GET.get("q", "").strip()
    candidates = Paginator(selectors.contacts_to_enroll(request.account, q), 25).get_page(request.GET.get("page"))
    inboxes = list(selectors.inboxes_of(request.account))
    choices = {"contact_choices": [(c.pk, str(c)) for c in candidates],
               "inbox_choices": [(i.pk, str(i)) for i in inboxes]}
    if request.method == "POST":
        choices["contact_choices"] = [(pk, pk) for pk in map(int, request.POST.getlist("contacts")) if pk > 0]
    form = EnrollForm(request.POST or None, **choices)
    outcome = None
    if request.method == "POST" and form.is_valid():
        contacts = list(selectors.contacts_to_enroll(request.account, "").filter(pk__in=form.cleaned_data["contacts"]))
        try:
            inbox = next((i for i in inboxes if i.pk == form.cleaned_data["inbox"]), None) or \
                services.inbox_for(account=request.account, user=request.user)
            outcome = services.enrollments_create(sequence=sequence, contacts=contacts, inbox=inbox,
                                                  enrolled_by=request.user,
                                                  start_position=form.cleaned_data["start_position"])
        except ValidationError as error:
            _errors_to_form(form, error)
    template = "sequences/partials/enroll_candidates.html" if request.htmx and request.method == "GET" else \
        "sequences/enroll.html"
    return render(request, template, {"sequence": sequence, "form": form, "candidates": candidates, "q": q,
                                      "inboxes": inboxes, "outcome": outcome})


@login_required
def sequence_enrollments(request, sequence_id: int):
    sequence = _sequence(request, sequence_id)
    status = request.GET.get("status", "")
    if status and status not in EnrollmentStatus.values:
        status = ""
    enrollments = selectors.enrollments_of(sequence, status)
    results = []
    if request.method == "POST":
        form = BulkForm(request.POST, enrollment_ids=list(enrollments.values_list("pk", flat=True)))
        if form.is_valid():
            act = {"pause": services.enrollment_pause, "resume": services.enrollment_resume,
                   "unenroll": services.enrollment_unenroll}[form.cleaned_data["action"]]
            for enrollment in enrollments.filter(pk__in=form.cleaned_data["enrollments"]):
                results.append((enrollment, act(enrollment=enrollment, by=request.user)))
        else:
            messages.error(request, "Choose an action and at least one enrollment.")
    page = Paginator(enrollments, 50).get_page(request.GET.get("page"))
    return render(request, "sequences/enrollments.html", {
        "sequence": sequence, "page": page, "status": status, "counts": selectors.enrollment_counts(sequence),
        "statuses": EnrollmentStatus.choices, "results": results})


@login_required
def task_list(request):
    return render(request, "sequences/tasks.html", {"tasks": selectors.open_tasks_of(request.account, request.user)})


@login_required
@require_POST
def task_finish(request, task_id: int):
    task = Task.objects.filter(account=request.account, assignee=request.user, pk=task_id).first()
    if task is None:
        raise Http404("No such task")
    skipped = request.POST.get("skip") == "1"
    if sending.task_finish(task=task, skipped=skipped, by=request.user):
        messages.success(request, f"Task {'skipped' if skipped else 'completed'}; the sequence goes on.")
    return redirect("sequences:tasks")
