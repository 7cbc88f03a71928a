"""Two (or more) Firewatch replicas as real processes on one PostgreSQL database, one Slack
emulator, and a person who sends each request to the next replica in turn.

Each replica reaches the emulator through its own address (``/r/<name>/api/``), so the
emulator knows which replica made a call and the fault matrix can kill exactly that one
with SIGKILL at a chosen point of the call. Nothing in Firewatch knows it is being tested.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import shlex
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot.emulator import SlackEmulator, SlackRequestSender, SlackResponse
from bot.slack.messages import INTERNAL_ERROR
from storage.engine import Database
from storage.models import IncidentRow, OutboxRow
from tests.benchmarks.common import FlowError, ServerProcess, start_firewatch
from tests.support import SECRET, TOKEN

REQUEST_PATIENCE = 30.0  # seconds a person keeps trying (a database restart takes a few)
# The answer to a request whose transaction failed (its first sentence).
NOTHING_CHANGED = INTERNAL_ERROR.partition(".")[0]

# The IRT the flows page: U0DAVE is paged by hand, U0BOB (the PM) writes the post-mortem
# and U0CAROL (the DL) approves nothing; the default RACI has the PM approve.
POLICY = """\
roles:
  pm:  {title: Product Manager,  primary: U0BOB}
  dl:  {title: Development Lead, primary: U0CAROL}
  om:  {title: Operations Lead,  primary: U0ERIN}
"""

# Short enough that a killed replica's claims run out within a case, long enough for a
# slow call: the lease is derived from the Slack timeout (issue 21 item 3).
T = TypeVar("T")

ALERTMANAGER_TOKEN = "alertmanager-token-of-the-matrix"
REPLICA_ENV = {
    "FIREWATCH_ALERTMANAGER_TOKEN": ALERTMANAGER_TOKEN,  # the alert step's webhooks
    "FIREWATCH_SLACK_TIMEOUT_SECONDS": "2",
    "FIREWATCH_OUTBOX_POLL_SECONDS": "0.05",
    "FIREWATCH_ECHO_INTERVAL_SECONDS": "0",
    "FIREWATCH_AUTO_MIGRATE": "true",
    "FIREWATCH_LOG_LEVEL": "INFO",
}


# Starts of a replica before giving up: a replica exits when the database does not
# answer at start, and an orchestrator starts it again.
START_ATTEMPTS = 5


class ReplicaGone(Exception):
    """A request went to a replica that was killed, or never answered."""


@dataclass
class Replica:
    name: str
    server: ServerProcess
    sender: SlackRequestSender


@dataclass
class Cluster:
    slack: SlackEmulator
    database_url: str
    workdir: Path
    replica_names: tuple[str, ...]
    replicas: dict[str, Replica] = field(default_factory=dict)
    db: Database | None = None
    _turn: itertools.cycle[str] | None = None
    #: Requests that reached no live replica and were sent again (a person retrying).
    retried: int = 0

    # -- replicas -------------------------------------------------------------------------

    async def start_replica(self, name: str) -> Replica:
        env = {
            **REPLICA_ENV,
            "FIREWATCH_POLICY_FILE": str(self.workdir / "policy.yaml"),
        }
        home = self.workdir / f"replica-{name}"  # its own log (a restart appends a new one)
        home.mkdir(exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            if (home / "firewatch.log").exists():
                numbered = home / f"firewatch-{len(list(home.iterdir()))}.log"
                (home / "firewatch.log").rename(numbered)
            try:
                server = await start_firewatch(
                    self.slack.api_url_for(name), self.database_url, home, extra_env=env
                )
                break
            except FlowError:
                # It exits when the database does not answer at start (another cluster's
                # case may be restarting PostgreSQL): started again, as an orchestrator
                # would.
                if attempt == START_ATTEMPTS:
                    raise
                await asyncio.sleep(1.0)
        server.name = name
        sender = SlackRequestSender(
            server.events_url, SECRET, response_url_base=self.slack.hooks_url
        )
        replica = Replica(name, server, sender)
        self.replicas[name] = replica
        return replica

    def alive(self, name: str) -> bool:
        replica = self.replicas.get(name)
        return replica is not None and replica.server.process.returncode is None

    def kill(self, name: str) -> None:
        """SIGKILL, as the kernel's OOM killer or a node failure would: no clean-up runs."""
        replica = self.replicas.get(name)
        if replica is not None and replica.server.process.returncode is None:
            replica.server.process.send_signal(signal.SIGKILL)

    async def recover(self) -> list[str]:
        """Start again every replica that was killed; the names restarted."""
        restarted = []
        for name in self.replica_names:
            replica = self.replicas.get(name)
            if replica is not None and replica.server.process.returncode is None:
                continue
            if replica is not None:
                await replica.server.process.wait()
                await replica.sender.close()
            await self.start_replica(name)
            restarted.append(name)
        return restarted

    # -- a person's requests, round robin --------------------------------------------------

    async def request(self, send: str, *args: Any, **kwargs: Any) -> SlackResponse:
        """`sender.<send>(*args)` on the next live replica; a request no replica answered,
        or answered "nothing was changed, try again" (its database restarting: the matrix
        runs clusters side by side on one server, and any cluster's db:restart restarts
        it), is sent again to the next one, as a person would click or type again, for
        up to REQUEST_PATIENCE seconds."""
        assert self._turn is not None
        deadline = asyncio.get_running_loop().time() + REQUEST_PATIENCE
        last: Exception = ReplicaGone("no replica is running")
        while True:
            name = next(self._turn)
            if self.alive(name):
                try:
                    response: SlackResponse = await getattr(self.replicas[name].sender, send)(
                        *args, **kwargs
                    )
                except (OSError, TimeoutError, ConnectionError) as exc:  # killed mid-request
                    last = exc
                else:
                    if response.status < 500 and NOTHING_CHANGED not in response.text:
                        return response
                    last = ReplicaGone(f"{name} answered {response.status}: {response.text[:200]}")
                self.retried += 1
            if asyncio.get_running_loop().time() > deadline:
                raise ReplicaGone(f"no replica answered {send}: {last!r}")
            await asyncio.sleep(0.1)

    # -- the database, read directly --------------------------------------------------------

    async def incidents(self) -> list[IncidentRow]:
        query = select(IncidentRow).order_by(IncidentRow.id)
        return await self._read(lambda session: _all(session, query))

    async def outbox(self) -> list[OutboxRow]:
        query = select(OutboxRow).order_by(OutboxRow.id)
        return await self._read(lambda session: _all(session, query))

    async def scalar(self, sql: str, **params: Any) -> Any:
        return await self._read(lambda session: _scalar(session, sql, params))

    async def row(self, sql: str, **params: Any) -> Any:
        return await self._read(lambda session: _one(session, sql, params))

    async def _read(self, query: Callable[[Any], Awaitable[T]], timeout: float = 30.0) -> T:  # noqa: ASYNC109
        """`query` in a read session, asked again while the database is restarting. The
        clusters of a parallel run share one PostgreSQL server, so another cluster's
        `db:restart` case can cut this observer's connection in the middle of a read:
        the replicas must ride that out, and so must the checks that watch them."""
        assert self.db is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                async with self.db.session(write=False) as session:
                    return await query(session)
            except (DBAPIError, OSError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def settled(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Every declaration and capture made and every due Slack delivery done (or dead)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                intake, waiting = await self._backlog()
            except (DBAPIError, OSError):  # the database restarting: ask again
                intake, waiting = -1, []
            if not waiting and not intake:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"not settled: intake {intake}, outbox {waiting}")
            await asyncio.sleep(0.1)

    async def _backlog(self) -> tuple[int, list[tuple[Any, ...]]]:
        # The queues that lead to outbox rows first: a declaration or capture made after
        # this read has its rows committed before the outbox read below.
        intake = await self.scalar("SELECT count(*) FROM declaration_intake")
        intake += await self.scalar("SELECT count(*) FROM capture_requests WHERE state <> 'form'")
        horizon = datetime.now(UTC) + timedelta(minutes=1)
        waiting = [
            (r.id, r.kind, r.status, r.last_error)
            for r in await self.outbox()
            if r.status == "pending" and r.next_attempt_at.replace(tzinfo=UTC) <= horizon
        ]
        return int(intake), waiting

    async def restart_database(self) -> str:
        """Restart the PostgreSQL server where this machine lets the test (root, Debian's
        pg_ctlcluster, a cluster on the URL's port; or FIREWATCH_FAULTS_PG_RESTART, a
        command); else cut every connection to the database, which is what the replicas
        see of a restart but for the seconds when the server refuses connections. Says
        which was done."""
        command = restart_command()
        if command is None:
            await self.terminate_connections()
            return "connections cut"
        # One restart at a time: clusters side by side share the server, and a second
        # restart's stop, landing while the first one's start waits, failed that start.
        async with _server_restart_lock():
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {out.decode(errors='replace')}")
        return "PostgreSQL restarted"

    async def terminate_connections(self) -> int:
        """What a database restart does to every replica: their connections are cut."""
        assert self.db is not None
        async with self.db.session() as session:
            result = await session.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return int(result.scalar() or 0)


async def _all(session: Any, query: Any) -> list[Any]:
    return list((await session.execute(query)).scalars())


async def _scalar(session: Any, sql: str, params: Mapping[str, Any]) -> Any:
    return (await session.execute(text(sql), dict(params))).scalar()


async def _one(session: Any, sql: str, params: Mapping[str, Any]) -> Any:
    return (await session.execute(text(sql), dict(params))).one()


@asynccontextmanager
async def _server_restart_lock() -> AsyncIterator[None]:
    """An exclusive lock on a file beside the machine's other temporary files, so that
    restarts of the one server wait for each other across clusters and processes."""
    path = Path(tempfile.gettempdir()) / "firewatch-faults-pg-restart.lock"
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def restart_command() -> list[str] | None:
    configured = os.environ.get("FIREWATCH_FAULTS_PG_RESTART")
    if configured:
        return shlex.split(configured)
    versions = (
        sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() else []
    )
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster") or len(versions) != 1:
        return None
    version = versions[0].parent.name
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]


def prepare(workdir: Path) -> None:
    """The cluster's directory, with the policy file its replicas read."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "policy.yaml").write_text(POLICY)


@asynccontextmanager
async def cluster(
    database_url: str,
    workdir: Path,
    *,
    replicas: tuple[str, ...] = ("a", "b"),
    users: Mapping[str, str] | None = None,
) -> AsyncIterator[Cluster]:
    prepare(workdir)
    async with AsyncExitStack() as stack:
        slack = SlackEmulator(bot_token=TOKEN)
        await slack.start()
        stack.push_async_callback(slack.stop)
        slack.add_user("U0ERIN", "erin", "erin@example.com")
        slack.add_channel("incident-review")  # the default policy's weekly digest channel
        for user_id, name in (users or {}).items():
            slack.add_user(user_id, name, f"{name}@example.com")
        c = Cluster(slack, database_url, workdir, replicas)
        c._turn = itertools.cycle(replicas)
        # One replica first: it migrates the schema; the others find it current.
        await c.start_replica(replicas[0])
        await asyncio.gather(*(c.start_replica(name) for name in replicas[1:]))

        async def stop_all() -> None:
            for replica in c.replicas.values():
                await replica.sender.close()
                await replica.server.stop()

        stack.push_async_callback(stop_all)
        c.db = Database(database_url)
        stack.push_async_callback(c.db.dispose)
        yield c
