"""The docker backend against a real Docker engine (host networking, image loadkit-base).

Skipped, with the reason, where no engine answers or the image is missing
(``scripts/docker-setup.sh`` sets both up).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from fault_helpers import free_port, wait_until

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext
from loadkit.faults.backends.docker import DockerBackend
from loadkit.faults.model import parse_faults

pytestmark = [pytest.mark.docker, pytest.mark.exclusive]
IMAGE = "loadkit-base"


@pytest.fixture(scope="module")
def docker_client():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine ({exc}); run scripts/docker-setup.sh")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {IMAGE} missing; run scripts/docker-setup.sh")
    yield client
    client.close()


@pytest.fixture
def web_container(docker_client):
    """A real container serving HTTP on 127.0.0.1 (host network); removed at the end."""
    port, label = free_port(), uuid.uuid4().hex[:12]
    name = f"loadkit-faults-test-{label}"
    container = docker_client.containers.run(
        IMAGE,
        ["python3", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        name=name,
        network_mode="host",
        detach=True,
        labels={"loadkit.test": label},
        working_dir="/",
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: answers(url), timeout=60, what="container serving")
        yield name, label, url
    finally:
        container.remove(force=True)


def answers(url, timeout=2.0):
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def one(**item):
    return parse_faults([{"name": "box", "at": 0, **item}], "test")[0]


def status(docker_client, name):
    return docker_client.containers.get(name).status


def test_pause_and_unpause(docker_client, web_container):
    name, _, url = web_container
    backend = DockerBackend(BackendContext())
    spec = one(kind="pause", container=name)
    backend.inject(spec)
    assert status(docker_client, name) == "paused"
    assert not answers(url, timeout=1.0)
    backend.revert(spec)
    assert status(docker_client, name) == "running"
    wait_until(lambda: answers(url), what="serving again")
    backend.revert(spec)  # reverting twice is harmless (recover may repeat it)


@pytest.mark.parametrize("kind", ["stop", "kill"])
def test_stop_or_kill_then_start_by_label(docker_client, web_container, kind):
    name, label, url = web_container
    backend = DockerBackend(BackendContext())
    spec = one(kind=kind, label=f"loadkit.test={label}", timeout="1s")
    backend.inject(spec)
    assert status(docker_client, name) == "exited"
    backend.revert(spec)
    assert status(docker_client, name) == "running"
    wait_until(lambda: answers(url), timeout=60, what="serving again")


def test_restart(docker_client, web_container):
    name, _, url = web_container
    started = docker_client.containers.get(name).attrs["State"]["StartedAt"]
    backend = DockerBackend(BackendContext())
    backend.inject(one(kind="restart", container=name, timeout="1s"))
    assert docker_client.containers.get(name).attrs["State"]["StartedAt"] != started
    wait_until(lambda: answers(url), timeout=60, what="serving again")


def test_disconnect_on_host_networking_is_a_clear_error(docker_client, web_container):
    # Docker refuses to disconnect a container from the host network, and these
    # tests create no other networks (they would put services on other addresses).
    name, _, url = web_container
    backend = DockerBackend(BackendContext())
    with pytest.raises(FaultError, match="disconnect"):
        backend.inject(one(kind="disconnect", container=name, network="host"))
    with pytest.raises(FaultError, match="no docker network 'nope'"):
        backend.inject(one(kind="disconnect", container=name, network="nope"))
    assert answers(url)


def test_missing_containers_are_clear_errors(docker_client):
    backend = DockerBackend(BackendContext())
    with pytest.raises(FaultError, match="no container 'loadkit-no-such'"):
        backend.inject(one(kind="pause", container="loadkit-no-such"))
    with pytest.raises(FaultError, match="no container has label"):
        backend.inject(one(kind="pause", label="loadkit.test=no-such-label"))


def test_recover_unpauses_a_container_a_dead_run_left_paused(
    docker_client, web_container, tmp_path
):
    from loadkit.faults.journal import FaultJournal, recover

    name, _, url = web_container
    context = BackendContext()
    spec = one(kind="pause", container=name)
    DockerBackend(context).inject(spec)
    FaultJournal(tmp_path / "run", context, tmp_path / "fault-index").add(spec)
    assert status(docker_client, name) == "paused"
    results = recover(tmp_path / "fault-index")  # the owner is this process: not "running"
    assert [(r.name, r.ok) for r in results] == [("box", True)]
    assert status(docker_client, name) == "running"
    wait_until(lambda: answers(url), what="serving again")
