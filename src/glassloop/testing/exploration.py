"""Exploration of the schedules asyncio can produce: explore, replay, shrink.

Owns :func:`explore`, :func:`replay` and the :class:`Report` they give,
and the per-run machinery: a *choice source* (:class:`_Choices`) that every
freedom asks, and the ready policy (:class:`_Steering`) and clock
(:class:`_SteeredClock`) through which the kernel meets it.

**Only legal schedules.**  asyncio on a real OS leaves some things open, and
only those are varied: the order in which one poll's I/O events are handled;
whether an I/O event is seen this turn or a later one (the data arrived
later: and when nothing else is ready, virtual time may pass meanwhile, so a
reply can lose to a timeout); whether a due timer runs before this turn's
callbacks or after them (never before its deadline, never before an earlier
deadline); on which turn an executor job's result or a ``call_soon_threadsafe``
call lands (one thread's calls stay in their order).  ``call_soon``'s FIFO,
and a task's wake-up relative to callbacks queued before it, are never
touched: the ready queue is the kernel's, and nothing here reorders it.

**Choices and tokens.**  Each freedom is a numbered decision among ``n``
options, where option 0 is what asyncio does by default (the OS's order,
everything at once).  A schedule is the set of decisions that were not 0: a
*deviation* each.  A token writes those down (with a checksum of the run's
event trace), so it replays in any process; shrinking removes deviations while
the failure stays, so a report names the few that matter.

Under exploration, when nothing is ready the loop waits for the executor jobs
it submitted (for real, and never past the next timer's deadline, virtual
time moving as long as it waited), so that when their results land is a
decision, not a race with a thread.  A job that outlives that wait (it waits
on the loop itself, or a timeout is shorter than it) lands when it lands,
and a replay may then diverge (reported as such).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import re
import time
import traceback
import weakref
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..kernel.hooks import Hooks
from ..kernel.scheduler import Scheduler
from ..observe.recorder import callback_name
from .virtual_time import VirtualClock

if TYPE_CHECKING:
    from .simnet import SimNet

T = TypeVar("T")
AsyncFn = Callable[[], Awaitable[Any]]

#: How many loop turns one run may take before it counts as a livelock.
MAX_TURNS = 200_000
#: Real seconds one run may last.  A run still going then waits on what will
#: not come (a future nobody completes while a real socket stays open, so
#: virtual time cannot jump): it is stopped as a Livelock, never left to hang.
MAX_RUN_SECONDS = 60.0
#: The longest real wait, per turn, for outstanding executor jobs to finish.
SETTLE_SECONDS = 1.0
#: With sockets open, the real quiet an explored loop waits for before it jumps.
SETTLE_IO = 0.002
#: Runs spent at most on shrinking one failure.
SHRINK_BUDGET = 300
STRATEGIES = ("pct", "random", "bounded")
_TOKEN = re.compile(r"^([vw])1-([0-9a-f]{8})((?:-\d+x\d+)*)$")


class Livelock(RuntimeError):
    """A run took more loop turns than allowed: it never ends (a livelock or a busy loop)."""


class ReplayDiverged(RuntimeError):
    """A replayed run did not follow the recorded one: the program has nondeterminism
    that glassloop does not control (the wall clock, unseeded ``random``, real
    network or threads outside the loop's executor)."""


# -- the choice source ---------------------------------------------------------


#: A decision's identity from run to run: what it is about, and which time.
Signature = tuple[str, int]
#: Chooses a value for decision ``index`` of ``options`` with ``signature``.
Plan = Callable[[int, int, Signature], int]


def _default_plan(index: int, options: int, signature: Signature) -> int:
    return 0


class _Choices:
    """One run's decisions: asks the plan, records what was chosen and why."""

    __slots__ = ("_occurrences", "closed", "decisions", "deviations", "out_of_range", "plan")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        #: (kind, options, value) for every decision, in order.
        self.decisions: list[tuple[str, int, int]] = []
        #: (index, value, description, signature) for the decisions that were not 0.
        self.deviations: list[tuple[int, int, str, Signature]] = []
        #: Set when a replayed value did not fit its decision: the run diverged.
        self.out_of_range: int | None = None
        self._occurrences: dict[str, int] = {}
        #: Set when the program's main task is done: the rest is asyncio's order.
        self.closed = False

    def choose(self, kind: str, options: int, subject: str, describe: Callable[[int], str]) -> int:
        if self.closed:
            return 0
        index = len(self.decisions)
        key = f"{kind}|{subject}"
        occurrence = self._occurrences[key] = self._occurrences.get(key, -1) + 1
        signature = (key, occurrence)
        value = self.plan(index, options, signature)
        if not 0 <= value < options:
            if self.out_of_range is None:
                self.out_of_range = index
            value = 0
        self.decisions.append((kind, options, value))
        if value:
            self.deviations.append((index, value, describe(value), signature))
        return value


#: Decisions whose deviation is a delay ("seen a turn later"), asked again for as
#: long as the delay lasts.
_DELAYS = ("io-late", "thread")
#: The chance that a delay chosen at a change point lasts one more re-ask.
PCT_PERSIST = 0.5


def _pct_plan(rng: random.Random, horizon: int, depth: int) -> Plan:
    """PCT's change points: 1..depth decisions among the first ``horizon`` deviate.

    A change point that delays an event (I/O, a thread's result) lowers its
    priority for a while, as PCT's priority changes persist: each time the same
    event is asked about again, the delay goes on with probability
    ``PCT_PERSIST``.  Bugs of the "the reply came after the timeout" kind need
    an event held across a clock jump, which is two consecutive asks; as
    independent change points that is a depth-2 bug, found ``horizon`` times
    less often.
    """
    count = rng.randint(1, max(1, depth))
    points = {rng.randrange(max(1, horizon)) for _ in range(count)}
    values: dict[int, int] = {}
    delayed: set[str] = set()

    def plan(index: int, options: int, signature: Signature) -> int:
        key = signature[0]
        if index in points:
            if index not in values:
                values[index] = 1 + rng.randrange(options - 1)
            if key.split("|", 1)[0] in _DELAYS:
                delayed.add(key)
            return values[index]
        if key in delayed:
            if rng.random() < PCT_PERSIST:
                return 1
            delayed.discard(key)
        return 0

    return plan


def _random_plan(rng: random.Random) -> Plan:
    def plan(index: int, options: int, signature: Signature) -> int:
        return rng.randrange(options)

    return plan


def _fixed_plan(chosen: dict[int, int]) -> Plan:
    """Replays: the decisions by their place in the run."""

    def plan(index: int, options: int, signature: Signature) -> int:
        return chosen.get(index, 0)

    return plan


def _signature_plan(chosen: dict[Signature, int]) -> Plan:
    """Shrinking: decisions by what they are about, so that removing one
    deviation does not shift the others onto other decisions."""

    def plan(index: int, options: int, signature: Signature) -> int:
        return chosen.get(signature, 0)

    return plan


# -- naming what a decision is about -------------------------------------------


class _Names:
    """Names stable from run to run: tasks by creation order, callbacks by qualname."""

    def __init__(self) -> None:
        # Weak keys: an id would be reused by a later task once one is gone.
        self.tasks: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.count = 0

    def task(self, task: Any) -> str:
        name = self.tasks.get(task)
        if name is None:
            given = task.get_name()
            self.count += 1
            name = f"task #{self.count}" if given.startswith("Task-") else f"task {given!r}"
            self.tasks[task] = name
        return name

    def handle(self, handle: Any) -> str:
        if isinstance(handle, asyncio.Task):
            return self.task(handle)
        name = callback_name(handle)
        owner = getattr(getattr(handle, "_callback", None), "__self__", None)
        fd = _fd_of(owner)
        if fd is not None:
            return f"{name} (fd {fd})"
        args = getattr(handle, "_args", None) or ()
        for arg in args:
            if isinstance(arg, asyncio.Future):
                waiter = _task_waiting_on(arg)
                if waiter is not None:
                    return f"{name} for {self.task(waiter)}"
        return name


def _fd_of(owner: Any) -> int | None:
    sock = getattr(owner, "_sock", None) or getattr(owner, "_pipe", None)
    try:
        fd = sock.fileno() if sock is not None else None
    except Exception:
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _task_waiting_on(future: Any) -> Any:
    for callback, _ in getattr(future, "_callbacks", None) or ():
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            return owner
    return None


class _Trace(Hooks):
    """The run's event trace, for comparing a replay with its original run.

    It ends when the program's main task does: what follows is the runner's
    clean-up (cancelling what the program left running, the executor's
    shutdown), which cannot change how the run ended, so it is neither traced
    nor steered (``choices.closed``).  Left in, it made replays of programs
    that end with sockets still closing differ by when the kernel delivered
    the last FIN.
    """

    def __init__(self, names: _Names, choices: _Choices) -> None:
        self.names = names
        self.choices = choices
        self.events: list[str] = []
        self.main: Any = None

    def task_created(self, task: Any) -> None:
        if self.main is None:
            self.main = task  # the runner's first task runs the program
        if not self.choices.closed:
            self.events.append("new " + self.names.task(task))

    def task_done(self, task: Any) -> None:
        if task is self.main:
            self.choices.closed = True

    def callback_started(self, handle: Any) -> None:
        # The loop's own callbacks (draining a thread's wake-up byte) run when
        # threads' timing says, not the program's schedule: left out.
        if not self.choices.closed and not _is_loops_own(handle, self.loop):
            self.events.append(self.names.handle(handle))

    #: The loop traced (set when it is made).
    loop: Any = None

    def checksum(self) -> int:
        return zlib.crc32("\n".join(self.events).encode())


# -- the seams: ready policy and clock -------------------------------------------


class _Steering:
    """The ready policy of an explored run: every freedom asks the choice source."""

    def __init__(self, loop: Any, choices: _Choices, names: _Names) -> None:
        self.loop = loop
        self.choices = choices
        self.names = names
        #: Thread-safe calls that arrived and have not landed: (job number or
        #: None, arrival number, handle).
        self.held: deque[tuple[int | None, int, Any]] = deque()
        self._arrivals = itertools.count()
        #: Set when every I/O event of a poll was held back and nothing else is
        #: ready: the clock may then let time pass (the data comes later).
        self.io_held = False
        self.turns = 0
        #: When the run is stopped (MAX_RUN_SECONDS); polls never wait past it.
        self.wall_deadline = time.monotonic() + MAX_RUN_SECONDS
        #: Set when a job outlived the wait for it: its landing was a race.
        self.unsettled = False
        self.long_jobs: weakref.WeakSet[Any] = weakref.WeakSet()

    # -- turns

    def run_once(self) -> None:
        """The loop's ``_run_once``, with the landing of held thread-safe calls first."""
        self.turns += 1
        if self.turns > MAX_TURNS:
            raise Livelock(
                f"the run took more than {MAX_TURNS} loop turns without ending\n"
                + _stuck_tasks(self.loop)
            )
        if time.monotonic() > self.wall_deadline:
            # The runner's clean-up (cancelling what is left) gets a second.
            self.wall_deadline = time.monotonic() + 1.0
            raise Livelock(
                f"the run went on for more than {MAX_RUN_SECONDS:g} s of real time "
                "(waiting on something nothing will bring?)\n" + _stuck_tasks(self.loop)
            )
        self._settle()
        if self.held:
            self._land_threadsafe()
        Scheduler._run_once(self.loop)

    def _settle(self) -> None:
        """Wait for the executor jobs in flight, so their landing is decided here.

        Never past the next timer's deadline: the jobs take the real time they
        take, and virtual time moves with it, so a timeout shorter than a job
        still fires first, as under asyncio (and one longer never does: the
        trio#456 false timeout cannot happen).
        """
        loop = self.loop
        jobs = loop._executor_jobs
        if not jobs:
            return
        waiting = [job for job in list(jobs) if job not in self.long_jobs]
        if not waiting:
            return
        clock = loop._clock
        budget = SETTLE_SECONDS
        deadline = loop._next_deadline()
        if deadline is not None:
            budget = min(budget, max(0.0, deadline - clock.time()))
        start = time.monotonic()
        # A job leaves ``jobs`` after its result was handed to the loop.
        while any(job in jobs for job in waiting) and time.monotonic() - start < budget:
            time.sleep(0.0002)
        if isinstance(clock, _SteeredClock):
            clock.advance(time.monotonic() - start)
        late = [job for job in waiting if job in jobs]
        if late:
            # A timer fell due first, or the job is long (it waits on the
            # loop itself?): it lands when it lands, and a long one is not
            # waited for again.
            self.unsettled = True
            if budget >= SETTLE_SECONDS:
                self.long_jobs.update(late)

    def _land_threadsafe(self) -> None:
        held = sorted(self.held, key=_landing_order)
        self.held.clear()
        ready = self.loop._ready
        stay: list[tuple[int | None, int, Any]] = []
        blocked_threads = False
        for entry in held:
            job, _, handle = entry
            if job is None and blocked_threads:
                stay.append(entry)  # one thread's calls land in their order
                continue
            name = self.names.handle(handle)
            late = self.choices.choose("thread", 2, name, _says(f"{name} landed a turn later"))
            if late:
                stay.append(entry)
                blocked_threads = blocked_threads or job is None
            else:
                ready.append(handle)
        self.held.extend(stay)

    # -- the ReadyPolicy protocol

    def order_io(self, events: list[T]) -> list[T]:
        names = self.names
        loop = self.loop
        # The loop's own wake-up (or signal) pipe is not the program's I/O:
        # it is seen at once and asks nothing, so whether a thread's wake-up
        # byte came in this poll or the next never shifts the decisions.
        own = [event for event in events if _is_loops_own(event, loop)]
        pending = [event for event in events if not _is_loops_own(event, loop)]
        ordered: list[T] = []
        while len(pending) > 1:
            labels = [names.handle(event) for event in pending]
            pick = self.choices.choose(
                "io-order",
                len(pending),
                ",".join(labels),
                _first_seen(labels),
            )
            ordered.append(pending.pop(pick))
        ordered.extend(pending)
        seen: list[T] = list(own)
        for number, event in enumerate(ordered):
            last = number == len(ordered) - 1
            if last and len(seen) == len(own) and not loop._ready and not loop._timer_count():
                seen.append(event)  # holding everything back would only spin
                break
            label = names.handle(event)
            late = self.choices.choose(
                "io-late", 2, label, _says(f"{label}'s I/O was seen a turn later")
            )
            if not late:
                seen.append(event)
        self.io_held = len(seen) == len(own) and bool(ordered) and not loop._ready
        return seen

    def order_timers(self, due: list[T]) -> list[T]:
        # Where the batch may be cut: the timers after a cut run next turn,
        # after the callbacks queued before them and by the timers before the
        # cut.  That is asyncio's order had the clock read a little earlier:
        # so only between two different deadlines (equal deadlines are due
        # together or not at all), or before the first when callbacks are
        # already waiting to run.
        if not due:
            return due  # the clock is inside a timer's bucket, before its deadline
        cuts = [
            n
            for n in range(len(due) - 1, 0, -1)
            if due[n - 1]._when < due[n]._when  # type: ignore[attr-defined]
        ]
        if self.loop._ready:
            cuts.append(0)
        if not cuts:
            return due
        labels = [_timer_name(self.names, timer) for timer in due]
        pick = self.choices.choose(
            "timer-late",
            len(cuts) + 1,
            ",".join(labels),
            lambda v: (
                f"{labels[cuts[v - 1]]} ran after the callbacks ready before it"
                + (
                    f" (and {len(due) - cuts[v - 1] - 1} later timer(s) with it)"
                    if len(due) - cuts[v - 1] > 1
                    else ""
                )
            ),
        )
        if not pick:
            return due
        cut = cuts[pick - 1]
        loop = self.loop
        for timer in due[cut:]:
            if not timer._cancelled:  # type: ignore[attr-defined]
                loop._push_timer(timer)
        return due[:cut]

    def threadsafe_arrived(self, handle: Any) -> bool:
        job = None
        args = getattr(handle, "_args", None)
        jobs = self.loop._executor_jobs
        if args and jobs:
            for arg in args:
                number = jobs.get(arg) if _hashable(arg) else None
                if number is not None:
                    job = number
                    break
        self.held.append((job, next(self._arrivals), handle))
        return True


def _says(text: str) -> Callable[[int], str]:
    """A decision's description that does not depend on the value chosen."""
    return lambda _value: text


def _described(deviations: list[tuple[int, int, str, Signature]]) -> list[str]:
    """The deviations in words, a delay over consecutive asks of one event as one line.

    An event held back on several turns in a row is one fact about the world
    (its data came that much later), so it is one deviation: "seen 4 turns
    later", not four lines.
    """
    lines: list[str] = []
    run = 0
    for n, (_, _, text, (key, occurrence)) in enumerate(deviations):
        previous = deviations[n - 1][3] if n else None
        if previous == (key, occurrence - 1) and key.split("|", 1)[0] in _DELAYS:
            run += 1
            lines[-1] = text.replace("a turn later", f"{run} turns later")
        else:
            run = 1
            lines.append(text)
    return lines


def _first_seen(labels: list[str]) -> Callable[[int], str]:
    return lambda value: f"{labels[value]}'s I/O was seen before {labels[0]}'s"


def _is_loops_own(event: Any, loop: Any) -> bool:
    return getattr(getattr(event, "_callback", None), "__self__", None) is loop


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _landing_order(entry: tuple[int | None, int, Any]) -> tuple[int, int]:
    job, arrival, _ = entry
    # Executor results by submission (deterministic), other threads' calls after
    # them in arrival order.
    return (0, job) if job is not None else (1, arrival)


def _timer_name(names: _Names, timer: Any) -> str:
    return f"the timer for {names.handle(timer)}"


class _SteeredClock(VirtualClock):
    """Virtual time that also knows what the steering holds back."""

    def __init__(self) -> None:
        # Loopback I/O inside one program is there almost as soon as it is
        # written; "almost": a loaded kernel may hand it over a little later,
        # and a jump made before it arrives is a schedule no replay repeats.
        # So with sockets open, time jumps after SETTLE_IO of real quiet.
        super().__init__(autojump_threshold=SETTLE_IO)
        self.steering: _Steering | None = None

    def advance(self, seconds: float) -> None:
        """Time the loop spent waiting for executor jobs (it passed for the program too)."""
        if self._flow_start is None:
            self._now += seconds

    def wait_timeout(self, timeout: float | None) -> float | None:
        steering = self.steering
        if steering is not None:
            if steering.held:
                return 0.0  # a thread-safe call waits to land: not idle
            if steering.io_held and timeout != 0.0:
                steering.io_held = False
                loop = self._loop
                deadline = loop._next_deadline() if loop is not None else None
                if (
                    deadline is not None
                    and not loop._outside_work()[0]  # type: ignore[union-attr]
                    and not self._threads_running()
                ):
                    # The held-back data arrives after the next timer.
                    self._jump_to(deadline)
                    return 0.0
        return _within_run(steering, super().wait_timeout(timeout))


class _RealSteeredClock:
    """The real clock, for explorations with ``virtual_time=False``."""

    def __init__(self) -> None:
        self.resolution = time.get_clock_info("monotonic").resolution
        self.time = time.monotonic
        self.steering: _Steering | None = None

    def wait_timeout(self, timeout: float | None) -> float | None:
        steering = self.steering
        if steering is not None and (steering.held or steering.io_held):
            steering.io_held = False
            return 0.0 if steering.held or timeout is None else min(timeout, 0.001)
        return _within_run(steering, timeout)


def _within_run(steering: _Steering | None, timeout: float | None) -> float | None:
    """A poll's real timeout, cut at the run's wall-clock limit (see MAX_RUN_SECONDS)."""
    if steering is None:
        return timeout
    left = max(steering.wall_deadline - time.monotonic(), 0.0)
    return left if timeout is None or timeout > left else timeout


# -- one run ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    """What every run of one exploration is made with."""

    virtual_time: bool
    #: A simulated network, copied fresh (``SimNet.fresh``) for each run.
    network: SimNet | None = None


def _check_network(network: object) -> SimNet | None:
    if network is None:
        return None
    from .simnet import SimNet

    if not isinstance(network, SimNet):
        raise TypeError(f"network must be a glassloop.testing.SimNet, not {network!r}")
    return network


@dataclass
class _Outcome:
    error: BaseException | None
    choices: _Choices
    checksum: int
    events: list[str]
    unsettled: bool
    timeline: Any = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def _run(fn: AsyncFn, plan: Plan, setup: _Setup, record: bool = False) -> _Outcome:
    from ..loop import Loop

    choices = _Choices(plan)
    names = _Names()
    trace = _Trace(names, choices)
    clock: Any = _SteeredClock() if setup.virtual_time else _RealSteeredClock()
    if setup.network is None:
        loop = Loop(clock=clock)
    else:
        from .simnet import SimLoop

        network = setup.network.fresh()
        network.choose = choices.choose
        loop = SimLoop(network, clock=clock)
    trace.loop = loop
    steering = _Steering(loop, choices, names)
    clock.steering = steering
    loop.set_ready_policy(steering)
    loop._run_once = steering.run_once  # type: ignore[method-assign]
    recorder = None
    if record:
        from ..observe.attach import attach
        from ..observe.recorder import Recorder

        recorder = Recorder()
        recorder.attach(loop)
        attach(loop, trace)
    else:
        loop.set_hooks(trace)
    error: BaseException | None = None
    try:
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            runner.run(_call(fn))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        error = exc
    finally:
        if not loop.is_closed():
            loop.close()
    timeline = None
    if recorder is not None:
        from ..observe.chrome import chrome_trace

        with contextlib.suppress(Exception):
            timeline = chrome_trace(recorder)
    return _Outcome(error, choices, trace.checksum(), trace.events, steering.unsettled, timeline)


async def _call(fn: AsyncFn) -> Any:
    result = fn()
    if not isinstance(result, Awaitable):
        raise TypeError(
            f"explore() wants an async function taking no arguments; {fn!r} returned "
            f"{type(result).__name__}"
        )
    return await result


def _stuck_tasks(loop: Any) -> str:
    try:
        from ..observe.tree import format_task_tree, task_tree

        return "tasks when it was stopped:\n" + format_task_tree(task_tree(loop))
    except Exception:
        return ""


# -- tokens -------------------------------------------------------------------------


def _token(outcome: _Outcome, setup: _Setup) -> str:
    head = "v" if setup.virtual_time else "w"
    body = "".join(f"-{index}x{value}" for index, value, _, _ in outcome.choices.deviations)
    return f"{head}1-{outcome.checksum:08x}{body}"


def _parse_token(token: str) -> tuple[bool, int, dict[int, int]]:
    if not isinstance(token, str):
        raise TypeError(f"a replay token is a str, not {type(token).__name__}")
    match = _TOKEN.match(token.strip())
    if match is None:
        raise ValueError(
            f"not a glassloop replay token: {token!r} (expected e.g. 'v1-1a2b3c4d-12x1')"
        )
    chosen: dict[int, int] = {}
    for part in match.group(3).split("-")[1:]:
        index, value = part.split("x")
        chosen[int(index)] = int(value)
    return match.group(1) == "v", int(match.group(2), 16), chosen


# -- the report -----------------------------------------------------------------------


@dataclass
class Report:
    """What an exploration found.

    ``runs`` counts the schedules tried (up to and including the failing one);
    ``token`` replays the failing schedule, shrunk to ``choices`` (its
    deviations from asyncio's default order, in words); ``timeline`` is the
    failing run's Chrome/Perfetto trace (a replay with a recorder attached).
    ``exhausted`` is True when a ``bounded`` exploration tried every schedule
    within ``deviations`` and none failed: then no failure is a guarantee.
    """

    failed: bool
    runs: int
    strategy: str
    seed: int
    error: BaseException | None = None
    token: str | None = None
    choices: list[str] = field(default_factory=list)
    deviations_before_shrinking: int = 0
    timeline: Any = None
    nondeterminism: str | None = None
    exhausted: bool = False
    target: str | None = None

    def replay_command(self) -> str | None:
        if self.token is None:
            return None
        return f"glassloop replay {self.token}" + (f" {self.target}" if self.target else "")

    def __str__(self) -> str:
        if not self.failed:
            line = f"no failure in {self.runs} schedule(s) ({self.strategy}, seed {self.seed})"
            if self.exhausted:
                line += ": every schedule within the deviation bound was tried"
            return line
        assert self.error is not None
        lines = [
            f"failed after {self.runs} schedule(s) ({self.strategy}, seed {self.seed}):",
            "".join(traceback.format_exception(self.error)).rstrip(),
            "",
        ]
        if self.choices:
            lines.append(
                f"the choices that made the difference ({len(self.choices)} of "
                f"{self.deviations_before_shrinking} before shrinking):"
            )
            lines.extend(f"  - {choice}" for choice in self.choices)
        else:
            lines.append("it fails in asyncio's default order (no deviation needed)")
        if self.nondeterminism:
            lines.append(f"warning: {self.nondeterminism}")
        command = self.replay_command()
        if command:
            lines.append(command)
        return "\n".join(lines)


# -- explore and replay ------------------------------------------------------------------


def _same_failure(a: BaseException | None, b: BaseException | None) -> bool:
    return a is not None and b is not None and type(a) is type(b)


def _shrink(fn: AsyncFn, outcome: _Outcome, setup: _Setup) -> tuple[_Outcome, int]:
    """Remove deviations while the same failure stays; returns the smallest run found."""
    best = outcome
    spent = 0
    target = outcome.error
    changed = True
    while changed and spent < SHRINK_BUDGET:
        changed = False
        deviations = best.choices.deviations
        # Halves first (a random run has many), then one at a time.
        size = max(1, len(deviations) // 2)
        while size >= 1 and not changed and spent < SHRINK_BUDGET:
            for start in range(0, len(deviations), size):
                kept = {
                    signature: value
                    for n, (_, value, _, signature) in enumerate(deviations)
                    if not start <= n < start + size
                }
                if len(kept) == len(deviations):
                    continue
                spent += 1
                trial = _run(fn, _signature_plan(kept), setup)
                if _same_failure(trial.error, target) and len(trial.choices.deviations) < len(
                    deviations
                ):
                    best = trial
                    changed = True
                    break
                if spent >= SHRINK_BUDGET:
                    break
            size //= 2
    return best, spent


def _check_replays(fn: AsyncFn, outcome: _Outcome, setup: _Setup) -> tuple[str | None, Any]:
    """Replay the shrunk run with a recorder: same trace?  Returns (problem, timeline)."""
    chosen = {i: v for i, v, _, _ in outcome.choices.deviations}
    again = _run(fn, _fixed_plan(chosen), setup, record=True)
    if again.checksum == outcome.checksum and _same_failure(again.error, outcome.error):
        return None, again.timeline
    where = next(
        (n for n, (a, b) in enumerate(zip(outcome.events, again.events, strict=False)) if a != b),
        min(len(outcome.events), len(again.events)),
    )
    first = outcome.events[where] if where < len(outcome.events) else "(end)"
    second = again.events[where] if where < len(again.events) else "(end)"
    return (
        "the program is not deterministic under a fixed schedule: a replay diverged at "
        f"event {where} ({first!r} the first time, {second!r} the second); something "
        "outside the loop's control decides (the wall clock, unseeded random, a thread "
        "or network the loop does not see)"
    ), again.timeline


def _check_fn(fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"explore() wants an async function taking no arguments, not {fn!r}")


def explore(
    fn: AsyncFn,
    runs: int = 1000,
    seed: int = 0,
    strategy: str = "pct",
    depth: int = 3,
    virtual_time: bool = True,
    *,
    deviations: int = 2,
    network: SimNet | None = None,
    shrink: bool = True,
    progress: Callable[[int, int], None] | None = None,
    target: str | None = None,
) -> Report:
    """Run ``fn`` under up to ``runs`` schedules asyncio can produce; stop at the first failure.

    The first run is asyncio's default order.  ``strategy``:

    - ``"pct"`` (probabilistic concurrency testing): each run deviates from
      the default order at 1 to ``depth`` decision points drawn uniformly
      among the first ``H`` decisions (``H``, the most any run made so far).
      A delay chosen at a change point lasts over the same event's next asks
      with probability ``PCT_PERSIST`` each.  A failure that needs
      ``k <= depth`` particular deviations, among decisions of at most ``m``
      options, delays lasting ``R`` asks in all, is hit by a run with
      probability at least ``1 / (depth * H**k * (m - 1)**k * 2**R)``: so
      small ``k`` is found fast, and the bound does not depend on how many
      runs came before.
    - ``"random"``: every decision drawn uniformly.
    - ``"bounded"``: every schedule within ``deviations`` deviations of the
      default order, fewest first (``runs`` caps it); a clean, complete run
      (``report.exhausted``) is a guarantee for that bound.

    Failures are exceptions out of ``fn``, a :class:`Deadlock` (virtual time
    found nothing that could ever wake the loop), and a :class:`Livelock`.
    A failure is shrunk (``shrink=False`` skips it) and replayed once more to
    check that its token really reproduces it.
    """
    _check_fn(fn)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    for name, value, low in (("runs", runs, 1), ("depth", depth, 1), ("deviations", deviations, 0)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, not {value}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    if not isinstance(virtual_time, bool):
        raise TypeError(f"virtual_time must be True or False, not {virtual_time!r}")
    setup = _Setup(virtual_time, _check_network(network))

    plans = (
        _bounded_plans(fn, deviations, setup)
        if strategy == "bounded"
        else _sampled_plans(strategy, seed, depth)
    )
    tried = 0
    exhausted = False
    while tried < runs:
        slot = next(plans, None)
        if slot is None:
            exhausted = True  # only a bounded exploration runs out of schedules
            break
        outcome = _run(fn, slot.plan, setup)
        slot.seen(outcome)
        tried += 1
        if progress is not None:
            progress(tried, runs)
        if outcome.failed:
            return _failure_report(fn, outcome, tried, strategy, seed, setup, shrink, target)
    if strategy == "bounded" and not exhausted:
        exhausted = next(plans, None) is None
    return Report(False, tried, strategy, seed, exhausted=exhausted, target=target)


def _failure_report(
    fn: AsyncFn,
    outcome: _Outcome,
    tried: int,
    strategy: str,
    seed: int,
    setup: _Setup,
    shrink: bool,
    target: str | None,
) -> Report:
    before = len(_described(outcome.choices.deviations))
    if shrink and before:
        outcome, _ = _shrink(fn, outcome, setup)
    problem, timeline = _check_replays(fn, outcome, setup)
    if problem is None and outcome.unsettled:
        problem = (
            f"an executor job outlived the {SETTLE_SECONDS} s the loop waits for it each "
            "turn: when its result landed was a race with a thread, and may not replay"
        )
    return Report(
        True,
        tried,
        strategy,
        seed,
        error=outcome.error,
        token=_token(outcome, setup),
        choices=_described(outcome.choices.deviations),
        deviations_before_shrinking=before,
        timeline=timeline,
        nondeterminism=problem,
        target=target,
    )


class _PlanSlot:
    """A plan, and what to learn from the run it drove."""

    def __init__(self, plan: Plan, seen: Callable[[_Outcome], None]) -> None:
        self.plan = plan
        self.seen = seen


def _sampled_plans(strategy: str, seed: int, depth: int) -> Iterator[_PlanSlot]:
    horizon = [1]

    def learn(outcome: _Outcome) -> None:
        horizon[0] = max(horizon[0], len(outcome.choices.decisions))

    yield _PlanSlot(_default_plan, learn)
    for number in itertools.count(1):
        rng = random.Random(f"glassloop:{seed}:{number}")
        if strategy == "random":
            yield _PlanSlot(_random_plan(rng), learn)
        else:
            yield _PlanSlot(_pct_plan(rng, horizon[0], depth), learn)


def _bounded_plans(fn: AsyncFn, bound: int, setup: _Setup) -> Iterator[_PlanSlot]:
    """Every schedule within ``bound`` deviations, breadth first (fewest first)."""
    frontier: deque[tuple[tuple[int, int], ...]] = deque([()])
    while frontier:
        chosen = frontier.popleft()
        children: list[tuple[tuple[int, int], ...]] = []

        def learn(
            outcome: _Outcome,
            chosen: tuple[tuple[int, int], ...] = chosen,
            children: list[tuple[tuple[int, int], ...]] = children,
        ) -> None:
            if len(chosen) >= bound or outcome.choices.out_of_range is not None:
                return
            last = chosen[-1][0] if chosen else -1
            for index, (_, options, _) in enumerate(outcome.choices.decisions):
                if index <= last:
                    continue
                for value in range(1, options):
                    children.append((*chosen, (index, value)))

        yield _PlanSlot(_fixed_plan(dict(chosen)), learn)
        frontier.extend(children)


def replay(fn: AsyncFn, token: str, *, network: SimNet | None = None) -> Any:
    """Run ``fn`` once more under the schedule ``token`` names; raise what it raised.

    Returns ``fn``'s result if that schedule does not fail.  Raises
    :class:`ReplayDiverged` when the run did not follow the recorded one (its
    event trace differs) and did not fail as before.
    """
    _check_fn(fn)
    virtual_time, checksum, chosen = _parse_token(token)
    outcome = _run(fn, _fixed_plan(chosen), _Setup(virtual_time, _check_network(network)))
    diverged = outcome.checksum != checksum or outcome.choices.out_of_range is not None
    if outcome.error is not None:
        if diverged:
            with contextlib.suppress(Exception):
                outcome.error.add_note(
                    "glassloop: this replay's event trace differs from the recorded run's"
                )
        raise outcome.error
    if diverged:
        raise ReplayDiverged(
            f"replaying {token}: the run did not follow the recorded schedule (its event "
            f"trace checksum is {outcome.checksum:08x}, not {checksum:08x}) and did not fail; "
            "the program has nondeterminism glassloop does not control"
        )
    return None


def run_schedule(
    fn: AsyncFn, data: Any, *, virtual_time: bool = True, network: SimNet | None = None
) -> Any:
    """Run ``fn`` once under a schedule drawn from Hypothesis's ``data`` (``st.data()``).

    Every decision is one ``data.draw(st.integers(0, options - 1))``, and 0 is
    asyncio's default: so Hypothesis shrinks the schedule toward asyncio's
    order together with the test's other inputs, in one failing example.
    Raises what ``fn`` raised; returns None.  Needs Hypothesis installed.
    """
    from hypothesis import strategies as st

    _check_fn(fn)
    draws: dict[int, Any] = {}

    stopped: list[BaseException] = []

    def plan(index: int, options: int, signature: Signature) -> int:
        if stopped:
            return 0
        strategy = draws.get(options)
        if strategy is None:
            strategy = draws[options] = st.integers(0, options - 1)
        try:
            value: int = data.draw(strategy, label=f"glassloop decision {index}")
        except BaseException as exc:  # Hypothesis ended this example
            # Raised inside a loop callback it would tear the run down half
            # way; the run finishes in asyncio's order and it is raised after.
            stopped.append(exc)
            return 0
        return value

    outcome = _run(fn, plan, _Setup(virtual_time, _check_network(network)))
    if stopped:
        raise stopped[0]
    if outcome.error is not None:
        raise outcome.error
    return None


def schedules_per_second(fn: AsyncFn, runs: int = 100, seed: int = 0) -> float:
    """Exploration throughput on ``fn`` (for benchmarks): schedules tried per second."""
    start = time.perf_counter()
    report = explore(fn, runs=runs, seed=seed, shrink=False)
    elapsed = time.perf_counter() - start
    return report.runs / elapsed if elapsed > 0 else math.inf
