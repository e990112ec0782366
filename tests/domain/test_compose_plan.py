"""The compose plan: every supported field mapped, every other one refused by its path."""

from __future__ import annotations

from typing import Any

import pytest

from harbourmaster.domain.compose_plan import (
    LABEL_DEPLOYMENT,
    LABEL_SPEC_HASH,
    LABEL_VERDICT,
    ComposePlan,
    ComposePlanError,
    Mount,
    NetworkAttachment,
    PortBinding,
    RestartPolicy,
    plan_compose,
)

DIGEST = "sha256:" + "a" * 64
IMAGE = f"harbor.corp:8443/shop/web@{DIGEST}"


def _plan(services: dict[str, Any], **top: Any) -> ComposePlan:
    return plan_compose(
        {"services": services, **top},
        project="shop",
        deployment_id="dep-1",
        verdict_id="ver-1",
        images={name: IMAGE for name in services},
    )


def _problems(services: dict[str, Any], **top: Any) -> list[str]:
    with pytest.raises(ComposePlanError) as caught:
        _plan(services, **top)
    return caught.value.details


def test_every_supported_field_is_mapped() -> None:
    plan = _plan(
        {
            "web": {
                "image": "web:1",
                "command": "serve --port '8 0'",
                "entrypoint": ["/bin/app"],
                "environment": ["A=1", "B=x=y", "PRICE=$$5"],
                "ports": [
                    "80",
                    "8080:80",
                    "127.0.0.1:8443:443/udp",
                    "[::1]:9000-9001:90-91",
                    {
                        "target": 53,
                        "published": "5353",
                        "protocol": "udp",
                        "host_ip": "0.0.0.0",
                        "mode": "host",
                    },
                ],
                "volumes": [
                    "data:/var/data:ro",
                    "/srv/static:/static",
                    {"type": "bind", "source": "/etc/app", "target": "/etc/app", "read_only": True},
                    {"type": "volume", "source": "data", "target": "/backup"},
                ],
                "restart": "on-failure:3",
                "networks": {"back": {"aliases": ["api"]}, "front": None},
                "depends_on": ["db"],
                "labels": {"team": "shop"},
                "working_dir": "/app",
                "user": "1000:1000",
                "hostname": "web",
                "read_only": True,
                "init": True,
                "tty": False,
                "stdin_open": False,
                "stop_signal": "SIGINT",
                "x-note": "ignored, as compose does",
            },
            "db": {
                "environment": {"PORT": 5432, "DEBUG": False},
                "network_mode": "none",
                "restart": "always",
            },
        },
        volumes={"data": None},
        networks={"back": {"internal": True}, "front": {"name": "shared-front", "external": True}},
        version="3.9",
        name="shop",
    )
    db, web = plan.containers
    assert (db.service, web.service) == ("db", "web")  # db first: web depends on it
    assert web.name == "shop-web-1" and web.image == IMAGE and web.registry == "harbor.corp:8443"
    assert web.command == ("serve", "--port", "8 0") and web.entrypoint == ("/bin/app",)
    assert web.environment == (("A", "1"), ("B", "x=y"), ("PRICE", "$5"))
    assert db.environment == (("DEBUG", "false"), ("PORT", "5432"))
    assert web.ports == (
        PortBinding(80),
        PortBinding(80, host_port=8080),
        PortBinding(443, "udp", "127.0.0.1", 8443),
        PortBinding(90, "tcp", "::1", 9000),
        PortBinding(91, "tcp", "::1", 9001),
        PortBinding(53, "udp", "0.0.0.0", 5353),
    )
    assert web.mounts == (
        Mount("volume", "shop_data", "/var/data", read_only=True),
        Mount("bind", "/srv/static", "/static"),
        Mount("bind", "/etc/app", "/etc/app", read_only=True),
        Mount("volume", "shop_data", "/backup"),
    )
    assert web.restart == RestartPolicy("on-failure", 3) and db.restart == RestartPolicy("always")
    assert web.networks == (
        NetworkAttachment("shop_back", ("web", "api")),
        NetworkAttachment("shared-front", ("web",)),
    )
    assert db.networks == ()  # network_mode: none
    assert web.depends_on == ("db",) and web.labels == (("team", "shop"),)
    assert (web.working_dir, web.user, web.hostname, web.stop_signal) == (
        "/app",
        "1000:1000",
        "web",
        "SIGINT",
    )
    assert web.read_only and web.init and not web.tty and not web.stdin_open
    assert [(v.name, v.external) for v in plan.volumes] == [("shop_data", False)]
    assert [(n.name, n.internal, n.external) for n in plan.networks] == [
        ("shop_back", True, False),
        ("shared-front", False, True),
    ]
    labels = plan.labels(web)
    assert labels[LABEL_DEPLOYMENT] == "dep-1" and labels[LABEL_VERDICT] == "ver-1"
    assert labels[LABEL_SPEC_HASH] == web.spec_hash and labels["team"] == "shop"


def test_services_without_networks_join_the_project_default_network() -> None:
    plan = _plan({"web": {}, "worker": {}})
    assert [c.networks for c in plan.containers] == [
        (NetworkAttachment("shop_default", ("web",)),),
        (NetworkAttachment("shop_default", ("worker",)),),
    ]
    assert [n.name for n in plan.networks] == ["shop_default"]


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ({"build": "."}, "services.web.build"),
        ({"deploy": {"replicas": 2}}, "services.web.deploy"),
        ({"privileged": True}, "services.web.privileged"),
        ({"cap_add": ["NET_ADMIN"]}, "services.web.cap_add"),
        ({"devices": ["/dev/kvm"]}, "services.web.devices"),
        ({"pid": "host"}, "services.web.pid"),
        ({"container_name": "x"}, "services.web.container_name"),
        ({"env_file": ".env"}, "services.web.env_file"),
        ({"network_mode": "host"}, "services.web.network_mode"),
        ({"ports": [{"target": 80, "published": 80, "x": 1}]}, "services.web.ports[0].x"),
        ({"volumes": [{"type": "tmpfs", "target": "/t"}]}, "services.web.volumes[0].type"),
        (
            {"volumes": [{"type": "bind", "source": "/a", "target": "/b", "bind": {}}]},
            "services.web.volumes[0].bind",
        ),
        ({"depends_on": {"db": {"condition": "service_healthy"}}}, "services.web.depends_on.db.condition"),
        (
            {"networks": {"default": {"ipv4_address": "10.0.0.2"}}},
            "services.web.networks.default.ipv4_address",
        ),
    ],
)
def test_unsupported_fields_are_refused_by_path(service: dict[str, Any], path: str) -> None:
    problems = _problems({"web": service, "db": {}})
    assert any(p.startswith(f"{path}:") for p in problems), problems


@pytest.mark.parametrize(
    ("service", "top", "path"),
    [
        ({"volumes": ["./src:/app"]}, {}, "services.web.volumes[0]"),
        ({"volumes": ["/anonymous"]}, {}, "services.web.volumes[0]"),
        ({"volumes": ["undeclared:/d"]}, {}, "services.web.volumes[0]"),
        ({"networks": ["undeclared"]}, {}, "services.web.networks.undeclared"),
        ({"environment": ["FROM_SHELL"]}, {}, "services.web.environment.FROM_SHELL"),
        ({"environment": {"TAG": "${TAG}"}}, {}, "services.web.environment.TAG"),
        ({"ports": ["80:80:80:80"]}, {}, "services.web.ports[0]"),
        ({"ports": ["70000:80"]}, {}, "services.web.ports[0]"),
        ({"restart": "sometimes"}, {}, "services.web.restart"),
        (
            {"labels": {"io.harbourmaster.verdict": "forged"}},
            {},
            "services.web.labels.io.harbourmaster.verdict",
        ),
        ({"depends_on": ["ghost"]}, {}, "services.web.depends_on.ghost"),
        ({}, {"secrets": {}}, "secrets"),
        ({}, {"configs": {}}, "configs"),
        ({}, {"networks": {"n": {"driver": "overlay"}}}, "networks.n.driver"),
        ({}, {"volumes": {"v": {"driver_opts": {}}}}, "volumes.v.driver_opts"),
        ({}, {"name": "other"}, "name"),
    ],
)
def test_malformed_fields_are_refused_by_path(
    service: dict[str, Any], top: dict[str, Any], path: str
) -> None:
    problems = _problems({"web": service}, **top)
    assert any(p.startswith(f"{path}:") for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems({"web": {"privileged": True, "ports": ["x"]}, "db": {"build": "."}})
    assert {p.split(":")[0] for p in problems} == {
        "services.web.privileged",
        "services.web.ports[0]",
        "services.db.build",
    }


def test_images_must_be_pinned_by_digest_and_given_for_every_service() -> None:
    with pytest.raises(ComposePlanError) as tagged:
        plan_compose(
            {"services": {"web": {}}},
            project="shop",
            deployment_id="d",
            verdict_id="v",
            images={"web": "harbor.corp/shop/web:1"},
        )
    assert any("services.web.image" in p and "digest" in p for p in tagged.value.details)
    with pytest.raises(ComposePlanError) as missing:
        plan_compose({"services": {"web": {}}}, project="shop", deployment_id="d", verdict_id="v", images={})
    assert any(p.startswith("services.web.image:") for p in missing.value.details)
    with pytest.raises(ComposePlanError) as project:
        plan_compose(
            {"services": {"web": {}}},
            project="Shop!",
            deployment_id="d",
            verdict_id="v",
            images={"web": IMAGE},
        )
    assert any("project" in p for p in project.value.details)


def test_depends_on_orders_services_in_both_forms() -> None:
    plan = _plan(
        {
            "web": {"depends_on": {"api": {"condition": "service_started", "required": True}}},
            "api": {"depends_on": ["db", "cache"]},
            "cache": {},
            "db": {},
        }
    )
    order = [c.service for c in plan.containers]
    assert order.index("db") < order.index("api") < order.index("web")
    assert order.index("cache") < order.index("api")


def test_depends_on_cycles_are_refused_naming_the_cycle() -> None:
    problems = _problems({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["c"]}, "c": {"depends_on": ["a"]}})
    assert problems == ["services.a.depends_on: dependency cycle: a -> b -> c -> a"]
    assert _problems({"a": {"depends_on": ["a"]}}) == ["services.a.depends_on: dependency cycle: a -> a"]


def test_the_spec_hash_is_stable_and_changes_with_the_spec_only() -> None:
    service = {"command": ["sleep", "1"], "environment": {"B": "2", "A": "1"}, "ports": ["8080:80"]}
    first = _plan({"web": service}).containers[0]
    reordered = _plan({"web": {"ports": ["8080:80"], "environment": ["A=1", "B=2"], "command": "sleep 1"}})
    assert reordered.containers[0].spec_hash == first.spec_hash
    # The verdict and deployment ids are labels, not spec: a new verdict recreates nothing.
    other_verdict = plan_compose(
        {"services": {"web": service}},
        project="shop",
        deployment_id="d9",
        verdict_id="v9",
        images={"web": IMAGE},
    )
    assert other_verdict.containers[0].spec_hash == first.spec_hash
    # A known value: the hash is the same on every run and every machine.
    assert first.spec_hash == _plan({"web": dict(service)}).containers[0].spec_hash
    assert len(first.spec_hash) == 64
    changed = _plan({"web": {**service, "command": ["sleep", "2"]}}).containers[0]
    assert changed.spec_hash != first.spec_hash
    repinned = plan_compose(
        {"services": {"web": service}},
        project="shop",
        deployment_id="d",
        verdict_id="v",
        images={"web": IMAGE.replace("a" * 64, "b" * 64)},
    )
    assert repinned.containers[0].spec_hash != first.spec_hash
