"""The state machine: every (action, state) pair against the ALLOWED table, through a real store."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import job_in, new_job
from worker.store import Backoff, Store
from worker.store.errors import JobNotFound, TransitionRefused
from worker.store.states import ACTIVE, ALLOWED, FINISHED, Action, JobStatus, allowed_actions, describe_allowed
from worker.store.transitions import FORCE_FAIL_REASON

P, R, C, F, X = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED,
                 JobStatus.CANCELLED)
GONE = None  # the job no longer exists

# What each allowed action leaves behind (jobs made with max_attempts=3, so a forced failure retries).
# It must name exactly the pairs ALLOWED allows: test_expectations_cover_the_table keeps the two in step.
RESULT: dict[tuple[Action, JobStatus], JobStatus | None] = {
    (Action.CANCEL, P): X, (Action.CANCEL, R): X, (Action.CANCEL, X): X,
    (Action.DELETE, P): GONE, (Action.DELETE, R): GONE, (Action.DELETE, C): GONE, (Action.DELETE, F): GONE,
    (Action.DELETE, X): GONE,
    (Action.FAIL, P): P, (Action.FAIL, R): P,
    (Action.RETRY, F): P, (Action.RETRY, X): P,
}

ACT: dict[Action, Callable[[Store, int], str]] = {
    Action.CANCEL: Store.cancel, Action.DELETE: Store.delete, Action.FAIL: Store.force_fail,
    Action.RETRY: Store.retry,
}

PAIRS = list(itertools.product(Action, JobStatus))


def test_expectations_cover_the_table() -> None:
    allowed = {(a, s) for a, s in PAIRS if s in ALLOWED[a]}
    assert set(RESULT) == allowed
    assert set(ALLOWED) == set(Action)


def test_states_partition() -> None:
    assert set(JobStatus) == ACTIVE | FINISHED
    assert not ACTIVE & FINISHED


@pytest.mark.parametrize(("action", "status"), PAIRS, ids=[f"{a}-{s}" for a, s in PAIRS])
def test_every_action_from_every_state(store: Store, action: Action, status: JobStatus) -> None:
    max_attempts = 1 if status is F else 3
    job_id, _ = job_in(store, status, max_attempts)
    before = store.get(job_id)
    history = store.history(job_id)
    assert before.status is status
    if status in ALLOWED[action]:
        message = ACT[action](store, job_id)
        assert f"job {job_id}" in message
        expected = RESULT[(action, status)]
        if expected is GONE:
            with pytest.raises(JobNotFound):
                store.get(job_id)
            assert store.history(job_id) == []
        else:
            assert store.get(job_id).status is expected
    else:
        with pytest.raises(TransitionRefused) as refused:
            ACT[action](store, job_id)
        error = refused.value
        assert (error.job_id, error.action, error.status) == (job_id, action, status)
        text = str(error)
        assert f"job {job_id}" in text
        assert f"it is {status.value}" in text
        for allowed in ALLOWED[action]:
            assert allowed.value in text
        assert describe_allowed(action) in text
        # A refused action changes nothing, not even the row's revision or its history.
        assert store.get(job_id) == before
        assert store.history(job_id) == history


@pytest.mark.parametrize(("action", "status"), PAIRS, ids=[f"{a}-{s}" for a, s in PAIRS])
def test_apply_reports_each_pair_without_raising(store: Store, action: Action, status: JobStatus) -> None:
    job_id, _ = job_in(store, status, 1 if status is F else 3)
    (outcome,) = store.apply(action, [job_id])
    assert outcome.job_id == job_id
    assert outcome.ok is (status in ALLOWED[action])
    if not outcome.ok:
        assert outcome.message == str(TransitionRefused(job_id, action, status))


@pytest.mark.parametrize("action", list(Action))
def test_unknown_job_is_named(store: Store, action: Action) -> None:
    with pytest.raises(JobNotFound, match=r"^job 4242 does not exist$") as missing:
        ACT[action](store, 4242)
    assert missing.value.job_id == 4242
    (outcome,) = store.apply(action, [4242])
    assert not outcome.ok
    assert outcome.message == "job 4242 does not exist"


def test_refusal_message_reads_well() -> None:
    assert str(TransitionRefused(7, Action.RETRY, C)) == (
        "cannot retry job 7: it is completed; retry is allowed only when it is failed or cancelled"
    )
    assert str(TransitionRefused(7, Action.FAIL, X)) == (
        "cannot fail job 7: it is cancelled; fail is allowed only when it is pending or running"
    )
    assert describe_allowed(Action.CANCEL) == "pending, running or cancelled"


def test_allowed_actions_follow_the_table() -> None:
    assert allowed_actions(P) == [Action.CANCEL, Action.DELETE, Action.FAIL]
    assert allowed_actions(C) == [Action.DELETE]
    assert allowed_actions(F) == [Action.DELETE, Action.RETRY]
    assert allowed_actions(X) == [Action.CANCEL, Action.DELETE, Action.RETRY]


def test_apply_acts_on_each_id_and_reports_each(store: Store) -> None:
    done, _ = job_in(store, C)
    pending, _ = job_in(store, P)
    outcomes = store.apply(Action.CANCEL, [pending, done, 999, pending])
    assert [(o.job_id, o.ok) for o in outcomes] == [(pending, True), (done, False), (999, False)]
    assert store.get(pending).status is X
    assert store.get(done).status is C


def test_cancel_records_who_and_when(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert store.cancel(job_id, by="alice") == f"job {job_id} cancelled"
    job = store.get(job_id)
    assert job.status is X
    assert job.cancelled_by == "alice"
    assert job.cancelled_at is not None
    assert job.finished_at is not None and job.started_at is not None
    assert job.started_at <= job.finished_at
    assert job.claimed_by is None
    event = store.history(job_id)[-1]
    assert (event.actor, event.from_status, event.to_status) == ("alice", "running", "cancelled")
    # The worker that held it can no longer finish it.
    assert token is not None
    assert not store.complete(job_id, token, {}, "test-worker")


def test_cancelling_a_cancelled_job_succeeds_and_says_so(store: Store) -> None:
    job_id, _ = job_in(store, X)
    before, history = store.get(job_id), store.history(job_id)
    assert store.cancel(job_id) == f"job {job_id} was already cancelled"
    assert store.get(job_id) == before  # nothing rewritten: the first cancel's time and author stay
    assert store.history(job_id) == history


def test_cancelled_job_is_never_retried_automatically(data_dir: Path) -> None:
    now = [1_000_000.0]
    with Store(data_dir, clock=lambda: now[0]) as store:
        job_id, _ = job_in(store, X)
        now[0] += 10_000
        assert store.claim("w", limit=10) == []
        assert store.rescue(actor="w") == []
        assert store.get(job_id).status is X


# ---- the failure policy -----------------------------------------------------------------------------------


@pytest.fixture
def slow_store(data_dir: Path) -> Iterator[Store]:
    """A store whose backoff is long and whose clock only moves when told, so 'not yet due' is certain."""
    clock = [1_000_000.0]
    with Store(data_dir, backoff=Backoff(base=100.0, cap=1000.0), clock=lambda: clock[0]) as store:
        store.clock_value = clock  # type: ignore[attr-defined]
        yield store


def test_force_fail_pending_goes_back_with_a_backoff(slow_store: Store) -> None:
    job_id, _ = job_in(slow_store, P)
    now = slow_store.clock()
    assert slow_store.force_fail(job_id) == f"job {job_id} force-failed; it is now pending"
    job = slow_store.get(job_id)
    assert job.status is P
    assert job.attempts == 1  # a pending job spends an attempt when forced to fail
    assert job.error == FORCE_FAIL_REASON
    assert now + 50 <= job.run_after <= now + 100  # base 100 s times jitter 0.5..1
    assert slow_store.claim("w") == []  # not due yet
    slow_store.clock_value[0] += 101  # type: ignore[attr-defined]
    (claim,) = slow_store.claim("w")
    assert (claim.job_id, claim.attempts) == (job_id, 2)
    event = slow_store.history(job_id)[1]
    assert (event.from_status, event.to_status) == ("pending", "pending")
    assert event.reason.startswith(FORCE_FAIL_REASON)


def test_force_fail_running_stops_the_claim_and_retries_later(slow_store: Store) -> None:
    job_id, token = job_in(slow_store, R)
    assert token is not None
    slow_store.force_fail(job_id, by="bob")
    job = slow_store.get(job_id)
    assert (job.status, job.attempts, job.error) == (P, 1, FORCE_FAIL_REASON)
    assert job.run_after > slow_store.clock()
    assert job.claimed_by is None
    assert slow_store.lost_claims({job_id: token}) == {job_id}  # how the worker learns to stop the handler
    assert not slow_store.complete(job_id, token, {}, "w")
    assert slow_store.get(job_id).status is P


@pytest.mark.parametrize("status", [P, R])
def test_force_fail_on_the_last_attempt_fails_for_good(slow_store: Store, status: JobStatus) -> None:
    job_id, _ = job_in(slow_store, status, max_attempts=2)
    slow_store.force_fail(job_id)
    assert slow_store.get(job_id).status is P
    assert slow_store.force_fail(job_id) == f"job {job_id} force-failed; it is now failed"
    job = slow_store.get(job_id)
    assert (job.status, job.attempts, job.max_attempts) == (F, 2, 2)
    assert job.finished_at is not None
    assert job.error == FORCE_FAIL_REASON
    assert "retrying" not in job.message  # a job that will not retry must not say it will


def test_real_failure_follows_the_same_policy(slow_store: Store) -> None:
    (job_id,) = slow_store.add([new_job(max_attempts=2)])
    (claim,) = slow_store.claim("w")
    assert slow_store.fail(job_id, claim.token, "boom", "tb 1", "w") == "pending"
    assert slow_store.get(job_id).run_after > slow_store.clock()
    slow_store.clock_value[0] += 1000  # type: ignore[attr-defined]
    (claim,) = slow_store.claim("w")
    assert slow_store.fail(job_id, claim.token, "bang", "tb 2", "w") == "failed"
    job = slow_store.get(job_id)
    assert (job.status, job.attempts, job.error, job.traceback) == (F, 2, "bang", "tb 2")


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    backoff = Backoff(base=2.0, cap=30.0)
    for attempts, full in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (50, 30.0)):
        delays = [backoff.delay(attempts) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 1  # jittered, so that failed jobs do not come back in lockstep


def test_retry_keeps_attempts_and_history_and_grants_another_round(slow_store: Store) -> None:
    job_id, _ = job_in(slow_store, F, max_attempts=1)
    failed = slow_store.get(job_id)
    events = slow_store.history(job_id)
    assert slow_store.retry(job_id, by="carol") == f"job {job_id} queued again"
    job = slow_store.get(job_id)
    assert job.status is P
    assert job.attempts == failed.attempts == 1
    assert job.max_attempts == 2  # the attempts spent stay counted; the user's budget is granted again
    assert job.error == failed.error == "boom"  # the last error stays visible until a new attempt ends
    assert job.finished_at is None
    assert slow_store.history(job_id)[: len(events)] == events
    last = slow_store.history(job_id)[-1]
    assert (last.actor, last.from_status, last.to_status) == ("carol", "failed", "pending")
    (claim,) = slow_store.claim("w")  # due at once: a retry is not a backoff
    assert (claim.job_id, claim.attempts, claim.max_attempts) == (job_id, 2, 2)


def test_retry_of_a_cancelled_job_clears_the_cancel(slow_store: Store) -> None:
    job_id, _ = job_in(slow_store, X)
    slow_store.retry(job_id)
    job = slow_store.get(job_id)
    assert (job.status, job.cancelled_at, job.cancelled_by, job.attempts, job.max_attempts) == (P, None, None, 0, 3)
