"""Static checks of the deployment files: Dockerfiles, docker-compose.yml and deploy/k8s.

Nothing here talks to a Docker engine, a registry or a cluster. The files are parsed, validated
against published schemas (the Compose specification JSON schema vendored from docker-compose
1.29.2 in tests/schemas/, and the Kubernetes OpenAPI schemas shipped by kubernetes-validate),
and checked for the properties the project relies on: health checks, ordering on healthy
infrastructure, one database per service, non-root containers, probes and resource limits.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose_spec.json"
INIT_SQL = ROOT / "deploy" / "postgres" / "init-databases.sql"
K8S_DIR = ROOT / "deploy" / "k8s"

# The single list of services (and their ports) every check below is driven by.
SERVICE_PORTS: dict[str, int] = {
    "gateway": 8000,
    "crowdsourcing": 8001,
    "crowdfunding": 8002,
    "crowdsupport": 8003,
    "makerspace": 8004,
    "credit": 8005,
    "audit": 8006,
}
SERVICES = tuple(SERVICE_PORTS)
# Services that receive the PII encryption key; nobody else should hold it.
PII_SERVICES = frozenset({"gateway"})

# Kubernetes version whose schemas the manifests are validated against (must be one that the
# installed kubernetes-validate ships).
K8S_VERSION = "1.31.0"
K8S_NAMESPACE = "sizhong"
# Topics beyond the per-service event topics; each topic also has a "<topic>.dlq".
EXTRA_TOPICS = ("sizhong.credit.listings", "sizhong.supervision.orders")
COMPACTED_TOPICS = frozenset({"sizhong.credit.listings"})
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# --------------------------------------------------------------------------- helpers


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def app_service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def dockerfile_path(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued instruction"
    return instructions


def k8s_documents(path: Path) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    assert all(isinstance(doc, dict) for doc in docs), path
    return docs


def k8s_files() -> list[Path]:
    return sorted(K8S_DIR.glob("*.yaml"))


def all_k8s_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in k8s_files():
        for index, doc in enumerate(k8s_documents(path)):
            yield f"{path.name}#{index}", doc


def schema_checkable(doc: dict[str, Any]) -> bool:
    """Strimzi CRs and the kustomize file have no schema in kubernetes-validate."""
    return not (doc["apiVersion"].startswith("kafka.strimzi.io/") or doc["kind"] == "Kustomization")


def service_manifest(service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    docs = k8s_documents(K8S_DIR / f"{service}.yaml")
    deployments = [doc for doc in docs if doc["kind"] == "Deployment"]
    services = [doc for doc in docs if doc["kind"] == "Service"]
    assert len(deployments) == 1 and len(services) == 1 and len(docs) == 2
    return deployments[0], services[0]


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container = containers[0]
    assert isinstance(container, dict)
    return container


def configmap() -> dict[str, Any]:
    (doc,) = k8s_documents(K8S_DIR / "configmap.yaml")
    assert doc["kind"] == "ConfigMap"
    return doc


def expected_topics() -> set[str]:
    base = [f"sizhong.{service}.events" for service in SERVICES] + list(EXTRA_TOPICS)
    return set(base) | {f"{topic}.dlq" for topic in base}


def kafka_topics() -> list[dict[str, Any]]:
    return k8s_documents(K8S_DIR / "topics.yaml")


# --------------------------------------------------------------------------- consistency


def test_service_list_matches_shared_settings() -> None:
    """The services and ports here are the ones the code itself knows about."""
    try:
        from shared.settings import SERVICE_PORTS as CODE_SERVICE_PORTS
    except ImportError as exc:  # pragma: no cover - only while shared/ is being written
        pytest.skip(f"shared.settings.SERVICE_PORTS not importable: {exc}")
    assert dict(CODE_SERVICE_PORTS) == SERVICE_PORTS


def test_compacted_topics_match_shared_bus() -> None:
    try:
        from shared.bus import COMPACTED_TOPICS as CODE_COMPACTED
    except ImportError as exc:  # pragma: no cover - only while shared/ is being written
        pytest.skip(f"shared.bus.COMPACTED_TOPICS not importable: {exc}")
    assert set(CODE_COMPACTED) == set(COMPACTED_TOPICS)


def test_every_service_package_is_importable_by_its_name() -> None:
    """The images run "<svc>.main:create_app": the package name must equal the service name."""
    for service in SERVICES:
        spec = importlib.util.find_spec(service)
        assert spec is not None and spec.origin is not None, f"package {service} not installed"
        # Editable install (services/<svc>/<svc>/) or regular one (site-packages/<svc>/).
        assert Path(spec.origin).parent.name == service
        assert (ROOT / "services" / service / service / "__init__.py").is_file()


# --------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile(service: str) -> None:
    port = SERVICE_PORTS[service]
    path = dockerfile_path(service)
    assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    instructions = dockerfile_instructions(path.read_text(encoding="utf-8"))
    by_kind: dict[str, list[str]] = {}
    for keyword, args in instructions:
        by_kind.setdefault(keyword, []).append(args)

    assert by_kind["FROM"] == ["python:3.11-slim"]

    copied = " ".join(by_kind["COPY"])
    for source in ("requirements.lock", "pyproject.toml", "shared/", "services/"):
        assert source in copied.split(), f"{service}: COPY of {source} missing"
    runs = " && ".join(by_kind["RUN"])
    assert "pip install --no-cache-dir -r requirements.lock" in runs
    assert "pip install --no-cache-dir --no-deps ." in runs
    assert "-e ." not in runs and "--editable" not in runs
    assert "useradd" in runs and "--uid 10001" in runs

    # The last USER wins and must not be root; the instructions after it must not need root.
    users = [(i, args) for i, (keyword, args) in enumerate(instructions) if keyword == "USER"]
    assert users, f"{service}: no USER instruction"
    last_user_index, user = users[-1]
    name = user.split(":", 1)[0]
    assert name not in {"root", "0", ""}
    assert name == "10001"
    assert all(keyword not in {"RUN", "COPY", "ADD"} for keyword, _ in instructions[last_user_index:])

    assert by_kind["EXPOSE"] == [str(port)]

    (healthcheck,) = by_kind["HEALTHCHECK"]
    assert "urllib.request" in healthcheck
    assert f"http://127.0.0.1:{port}/healthz" in healthcheck

    (cmd,) = by_kind["CMD"]
    assert json.loads(cmd) == [
        "uvicorn",
        "--factory",
        f"{service}.main:create_app",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--timeout-keep-alive",  # as shared.launcher: longer than clients keep idle connections
        "65",
    ]


def test_dockerfiles_differ_only_in_service_and_port() -> None:
    def normalised(service: str) -> str:
        text = dockerfile_path(service).read_text(encoding="utf-8")
        text = re.sub(rf"\b{re.escape(service)}\b", "<svc>", text)
        return re.sub(rf"\b{SERVICE_PORTS[service]}\b", "<port>", text)

    reference = normalised(SERVICES[0])
    for service in SERVICES[1:]:
        assert normalised(service) == reference, f"services/{service}/Dockerfile drifted from the template"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    entries = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".git", ".venv", "var", "**/__pycache__", ".pytest_cache", ".mypy_cache", ".env"):
        assert entry in entries, f".dockerignore lacks {entry}"


# --------------------------------------------------------------------------- docker compose


def compose_validator() -> jsonschema.protocols.Validator:
    # The vendored schema declares draft 2019-09 by an "http://...#" URI that jsonschema does
    # not recognise by itself, so the draft is named explicitly.
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/schema")
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_compose_matches_the_compose_schema() -> None:
    compose_validator().validate(load_compose())


def test_compose_schema_rejects_unknown_keys() -> None:
    """Guard against a schema that silently accepts anything."""
    broken = copy.deepcopy(load_compose())
    broken["services"]["gateway"]["not_a_compose_key"] = True
    with pytest.raises(jsonschema.ValidationError):
        compose_validator().validate(broken)
    broken = copy.deepcopy(load_compose())
    broken["services"]["gateway"]["depends_on"]["kafka"]["condition"] = "service_ready"
    with pytest.raises(jsonschema.ValidationError):
        compose_validator().validate(broken)


def test_compose_has_exactly_the_expected_services() -> None:
    assert set(load_compose()["services"]) == {*SERVICES, "kafka", "postgres"}


def test_every_compose_service_has_a_healthcheck() -> None:
    for name, service in load_compose()["services"].items():
        healthcheck = service.get("healthcheck")
        assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable", False)


def test_compose_kafka_runs_in_kraft_mode() -> None:
    compose = load_compose()
    kafka = app_service(compose, "kafka")
    env = env_of(kafka)
    assert kafka["image"] == "apache/kafka:3.9.0"
    roles = {role.strip() for role in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    assert controller in listeners
    protocols = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert controller not in advertised
    assert "kafka:9092" in advertised.values()
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert "ZOOKEEPER" not in " ".join(env)
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_compose_postgres_creates_one_database_per_service() -> None:
    compose = load_compose()
    postgres = app_service(compose, "postgres")
    env = env_of(postgres)
    assert postgres["image"] == "postgres:16-alpine"
    assert env["POSTGRES_USER"] == "sizhong"
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-sizhong}"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    mounts = [volume.split(":") for volume in postgres["volumes"]]
    assert any(
        src == "./deploy/postgres/init-databases.sql" and dst.startswith("/docker-entrypoint-initdb.d/")
        for src, dst, *_ in mounts
    )
    sql = INIT_SQL.read_text(encoding="utf-8")
    created = re.findall(r"^\s*CREATE\s+DATABASE\s+(\w+)", sql, flags=re.IGNORECASE | re.MULTILINE)
    assert sorted(created) == sorted(f"sizhong_{service}" for service in SERVICES)
    assert len(created) == len(set(created))


@pytest.mark.parametrize("service", SERVICES)
def test_compose_application_service(service: str) -> None:
    compose = load_compose()
    port = SERVICE_PORTS[service]
    spec = app_service(compose, service)

    assert spec["build"] == {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}
    assert dockerfile_path(service).is_file()

    assert spec["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }

    healthcheck = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in healthcheck

    published = [str(mapping).rsplit(":", 1)[-1] for mapping in spec["ports"]]
    assert str(port) in published

    env = env_of(spec)
    assert env["SERVICE_NAME"] == service
    assert env["DATABASE_URL"] == (
        f"postgresql+asyncpg://sizhong:${{POSTGRES_PASSWORD:-sizhong}}@postgres:5432/sizhong_{service}"
    )
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["JWT_SECRET"].startswith("${JWT_SECRET:?")  # compose refuses to start without it
    if service in PII_SERVICES:
        assert env["PII_KEY"].startswith("${PII_KEY:?")
    else:
        assert "PII_KEY" not in env
    assert json.loads(env["SERVICE_URLS"]) == {
        name: f"http://{name}:{name_port}" for name, name_port in SERVICE_PORTS.items()
    }
    assert env["TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["TOPIC_PARTITIONS"] == "3"


def test_compose_database_urls_are_all_distinct() -> None:
    compose = load_compose()
    urls = [env_of(app_service(compose, service))["DATABASE_URL"] for service in SERVICES]
    assert len(set(urls)) == len(SERVICES)


# --------------------------------------------------------------------------- Kubernetes


def test_k8s_directory_has_the_expected_files() -> None:
    names = {path.name for path in k8s_files()}
    expected = {f"{service}.yaml" for service in SERVICES} | {
        "namespace.yaml",
        "configmap.yaml",
        "secret-example.yaml",
        "topics.yaml",
        "kustomization.yaml",
    }
    assert names == expected


@pytest.mark.parametrize(
    ("where", "doc"),
    [pytest.param(where, doc, id=where) for where, doc in all_k8s_documents() if schema_checkable(doc)],
)
def test_k8s_manifest_matches_the_kubernetes_schema(where: str, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {exc.message} at {'/'.join(str(p) for p in exc.absolute_path)}")


def test_k8s_resources_live_in_the_app_namespace() -> None:
    for where, doc in all_k8s_documents():
        if doc["kind"] in {"Namespace", "Kustomization", "KafkaTopic"}:
            continue
        assert doc["metadata"]["namespace"] == K8S_NAMESPACE, where
    (namespace,) = k8s_documents(K8S_DIR / "namespace.yaml")
    assert namespace["kind"] == "Namespace" and namespace["metadata"]["name"] == K8S_NAMESPACE


def test_kustomization_lists_everything_but_the_secret_example() -> None:
    (kustomization,) = k8s_documents(K8S_DIR / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    # A global namespace would move the KafkaTopics out of the Strimzi cluster's namespace.
    assert "namespace" not in kustomization
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert "secret-example.yaml" not in resources
    assert set(resources) == {
        path.name for path in k8s_files() if path.name not in {"kustomization.yaml", "secret-example.yaml"}
    }


def test_k8s_configmap() -> None:
    data = configmap()["data"]
    assert json.loads(data["SERVICE_URLS"]) == {
        service: f"http://{service}.{K8S_NAMESPACE}.svc:{port}" for service, port in SERVICE_PORTS.items()
    }
    assert data["TOPIC_REPLICATION_FACTOR"] == "3"
    assert data["TOPIC_PARTITIONS"] == "6"
    assert re.fullmatch(r"[a-z0-9.-]+:\d+(,[a-z0-9.-]+:\d+)*", data["KAFKA_BOOTSTRAP_SERVERS"])
    for secret_name in ("JWT_SECRET", "PII_KEY", "DATABASE_URL"):
        assert secret_name not in data


def test_k8s_secret_example_only_holds_placeholders() -> None:
    (secret,) = k8s_documents(K8S_DIR / "secret-example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "sizhong-secrets"
    data = secret["stringData"]
    assert set(data) == {"JWT_SECRET", "PII_KEY"} | {f"{service}-database-url" for service in SERVICES}
    for key, value in data.items():
        assert "EXAMPLE" in value, f"{key} does not look like a placeholder"
    # Shorter than the 32-character minimum, so an unedited example cannot be used for real.
    assert len(data["JWT_SECRET"]) < 32 and len(data["PII_KEY"]) < 32
    for service in SERVICES:
        assert data[f"{service}-database-url"].endswith(f"/sizhong_{service}")


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_service_deployment(service: str) -> None:
    port = SERVICE_PORTS[service]
    deployment, svc = service_manifest(service)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = only_container(deployment)

    assert deployment["metadata"]["name"] == service
    assert spec["replicas"] == 2
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    assert container["image"] == f"registry.example.com/sizhong/{service}:0.1.0"

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port}

    # Probes: liveness on /healthz, readiness on /readyz, both on the service port.
    for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = container[probe_name]["httpGet"]
        assert probe["path"] == path
        assert ports.get(probe["port"], probe["port"]) == port

    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"{service}: {kind} incomplete"

    pod_security = pod["securityContext"]
    container_security = container["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 10001
    assert container_security["runAsNonRoot"] is True
    assert container_security["runAsUser"] == 10001
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"]["drop"] == ["ALL"]

    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]

    assert container["envFrom"] == [{"configMapRef": {"name": configmap()["metadata"]["name"]}}]
    env = {item["name"]: item for item in container["env"]}
    assert env["SERVICE_NAME"]["value"] == service
    secret_refs = {name: item["valueFrom"]["secretKeyRef"] for name, item in env.items() if "valueFrom" in item}
    expected_refs = {"DATABASE_URL": f"{service}-database-url", "JWT_SECRET": "JWT_SECRET"}
    if service in PII_SERVICES:
        expected_refs["PII_KEY"] = "PII_KEY"
    assert {name: ref["key"] for name, ref in secret_refs.items()} == expected_refs
    assert {ref["name"] for ref in secret_refs.values()} == {"sizhong-secrets"}

    assert svc["metadata"]["name"] == service
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (service_port,) = svc["spec"]["ports"]
    assert service_port["port"] == port
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == port


def test_strimzi_kafka_topics() -> None:
    topics = kafka_topics()
    data = configmap()["data"]
    partitions = int(data["TOPIC_PARTITIONS"])
    replicas = int(data["TOPIC_REPLICATION_FACTOR"])
    clusters: set[tuple[str, str]] = set()
    names: list[str] = []
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["kind"] == "KafkaTopic"
        metadata = topic["metadata"]
        name = metadata["name"]
        assert len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name), f"{name} is not a valid resource name"
        assert metadata["labels"]["strimzi.io/cluster"]
        clusters.add((metadata["labels"]["strimzi.io/cluster"], metadata["namespace"]))
        spec = topic["spec"]
        topic_name = spec.get("topicName", name)
        names.append(topic_name)
        assert isinstance(spec["partitions"], int) and spec["partitions"] >= 1
        assert isinstance(spec["replicas"], int) and spec["replicas"] == replicas
        if not topic_name.endswith(".dlq"):
            assert spec["partitions"] == partitions, topic_name
        policy = spec.get("config", {}).get("cleanup.policy", "delete")
        if topic_name in COMPACTED_TOPICS:
            assert policy == "compact", f"{topic_name} must be compacted"
        else:
            assert "compact" not in policy, f"{topic_name} must not be compacted"
    assert len(names) == len(set(names)), "duplicate KafkaTopic"
    assert set(names) == expected_topics()
    # All topics belong to one Strimzi cluster, the one the services' bootstrap address names.
    (cluster,) = clusters
    cluster_name, cluster_namespace = cluster
    bootstrap_host = data["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rsplit(":", 1)[0]
    assert bootstrap_host == f"{cluster_name}-kafka-bootstrap.{cluster_namespace}.svc"
