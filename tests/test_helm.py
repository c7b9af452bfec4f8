"""The chart renders and lints with Helm's own engine and every manifest is valid Kubernetes.

helm-python-sdk embeds Helm v4's Go library (no helm binary); kubernetes-validate holds the
Kubernetes JSON schemas. No cluster is contacted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "banchengshi"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
KUBE_VERSION = "1.30.0"  # the oldest Kubernetes the provinces run; Chart.yaml asks >= 1.27

VALUE_SETS = {"default": None, "production": PRODUCTION_VALUES}
# The one value the chart cannot do without when it makes its own Secret (no key is generated: a key
# made at render time changes on every `helm template`, ADR 25). Test data, never a real key.
TEST_SECRET_KEY = "test-only-" + "k" * 54


def _with_key(values: dict[str, Any] | None) -> dict[str, Any]:
    """The values, with a SECRET_KEY unless they name one or an existing Secret."""
    values = dict(values or {})
    if not values.get("existingSecret") and not (values.get("secrets") or {}).get("secretKey"):
        values["secrets"] = {**(values.get("secrets") or {}), "secretKey": TEST_SECRET_KEY}
    return values


def _values(name: str) -> dict[str, Any]:
    path = VALUE_SETS[name]
    return _with_key(yaml.safe_load(path.read_text(encoding="utf-8")) if path else None)


def _render(values: dict[str, Any] | None, *, key: bool = True) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(
            _with_key(values) if key else values, name="bcs", namespace="banchengshi", is_install=True
        )
    documents = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                document.setdefault("_template", template)
                documents.append(document)
    return documents


def _of(documents: list[dict[str, Any]], kind: str, name_suffix: str = "") -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]


def _pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in documents if d["kind"] in ("Deployment", "Job")
    }


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_chart_lints_clean(value_set):
    report = helm.lint(str(CHART), _values(value_set), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert report["errors"] == [] and problems == [], problems or report["errors"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_rendered_manifest_is_valid_kubernetes(value_set):
    documents = _render(_values(value_set))
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "Service", "Ingress", "Job", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    for document in documents:
        template = document.pop("_template")
        try:
            # strict: unknown fields (a misspelt key in a template) are errors too.
            kubernetes_validate.validate(document, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{template}: {document['kind']} {document['metadata']['name']}: {error.message} at {list(error.path)}"
            )


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_runs_as_non_root_on_a_read_only_root_with_tmp_and_limits(value_set):
    pods = _pod_specs(_render(_values(value_set)))
    assert {name.rsplit("-", 1)[-1] for name in pods} == {"web", "worker", "beat", "migrate"}
    for name, spec in pods.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] in tmp_volumes, name  # noqa: S108 - the pod's own emptyDir
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name


def test_web_probes_scaling_and_the_wildcard_ingress():
    documents = _render(_values("production"))
    (web,) = _of(documents, "Deployment", "-web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "replicas" not in web["spec"]  # the autoscaler owns it
    (ingress,) = _of(documents, "Ingress")
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["banchengshi.gxzf.example.cn", "*.banchengshi.gxzf.example.cn"]
    assert ingress["spec"]["tls"][0]["hosts"] == hosts
    assert {h["metadata"]["name"] for h in _of(documents, "HorizontalPodAutoscaler")} == {"bcs-banchengshi-web"}
    assert {p["metadata"]["name"] for p in _of(documents, "PodDisruptionBudget")} == {
        "bcs-banchengshi-web",
        "bcs-banchengshi-worker",
    }
    (worker,) = _of(documents, "Deployment", "-worker")
    assert worker["spec"]["replicas"] == 4  # autoscaling off in this file


def test_default_values_autoscale_web_and_worker():
    documents = _render(None)
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in _of(documents, "HorizontalPodAutoscaler")}
    assert targets == {"bcs-banchengshi-web", "bcs-banchengshi-worker"}


def test_beat_is_exactly_one_and_never_two_during_an_upgrade():
    for value_set in VALUE_SETS:
        (beat,) = _of(_render(_values(value_set)), "Deployment", "-beat")
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_migrations_run_as_a_hook_before_install_and_upgrade_with_their_own_configuration():
    documents = _render(None)
    hooks = [d for d in documents if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    by_kind = {d["kind"]: d for d in hooks}
    assert set(by_kind) == {"Job", "ConfigMap", "Secret"}
    for document in hooks:
        assert document["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # Configuration first (it must exist before the Job's pod starts on a first install).
    weight = {kind: int(d["metadata"]["annotations"]["helm.sh/hook-weight"]) for kind, d in by_kind.items()}
    assert weight["ConfigMap"] < weight["Job"] and weight["Secret"] < weight["Job"]
    job = by_kind["Job"]["spec"]["template"]["spec"]
    assert job["restartPolicy"] == "Never"


@pytest.mark.parametrize(("value_set", "options"), [("default", []), ("production", ["--verify"])])
def test_the_migration_job_runs_the_images_migrate_public_schema_then_our_county_executor(value_set, options):
    """No `command`: the image's entrypoint runs, and its `migrate` is `migrate_schemas --shared` then
    `migrate_counties` (tests/test_deploy.py pins that half); never django-tenants' per-schema executor."""
    (job,) = _of(_render(_values(value_set)), "Job", "-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "command" not in container
    assert container["args"] == ["migrate", *options]
    assert "migrate_schemas" not in " ".join(container["args"])


def test_a_migration_command_in_place_of_options_is_refused():
    values = {"migrations": {"args": ["python", "/app/manage.py", "migrate_schemas", "--executor=standard"]}}
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name="bcs", namespace="banchengshi")
    assert "at '/migrations/args/0'" in str(refused.value)


def test_an_existing_secret_replaces_the_charts_own():
    documents = _render(_values("production"))
    assert _of(documents, "Secret") == []
    for name, spec in _pod_specs(documents).items():
        secret_refs = [e["secretRef"]["name"] for e in spec["containers"][0]["envFrom"] if "secretRef" in e]
        assert secret_refs == ["banchengshi-env"], name


def test_the_charts_own_secret_carries_the_given_key_on_every_render():
    """Argo CD and `helm template` render without a cluster: the key must come from the values."""
    first, second = (_of(_render(None), "Secret", "-env")[0] for _ in range(2))
    assert first["stringData"]["SECRET_KEY"] == second["stringData"]["SECRET_KEY"] == TEST_SECRET_KEY
    assert set(first["stringData"]) >= {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN", "SENTRY_DSN"}


@pytest.mark.parametrize("values", [None, {"secrets": {"databaseUrl": "postgresql://u@db/x"}}])
def test_without_a_key_or_an_existing_secret_the_render_fails_and_says_what_to_set(values):
    """A key generated at render time survived only through `lookup`, which `helm template` and Argo CD
    never answer: every sync made a new SECRET_KEY, signing everyone out and voiding signed links."""
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmRenderError) as refused:
        chart.render(values, name="bcs", namespace="banchengshi", is_install=True)
    message = str(refused.value)
    assert "secrets.secretKey" in message and "existingSecret" in message
    # (`helm lint` runs templates in lint mode, where `fail` only logs: the chart still lints clean.)


def test_an_existing_secret_needs_no_key_in_the_values():
    documents = _render({"existingSecret": "banchengshi-env"}, key=False)
    assert _of(documents, "Secret") == []


def test_network_policies_cover_every_component():
    documents = _render(None)
    selected = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in _of(documents, "NetworkPolicy")
    }
    assert selected == {"web", "worker", "beat", "migrate"}
    (web_policy,) = _of(documents, "NetworkPolicy", "-web")
    assert web_policy["spec"]["ingress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    (beat_policy,) = _of(documents, "NetworkPolicy", "-beat")
    assert beat_policy["spec"]["ingress"] == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            yaml.safe_load((ROOT / "helm" / "testdata" / "bad-values.yaml").read_text()),
            "at '/beat': additional properties 'replicas' not allowed",
        ),
        ({"web": {"replicas": "three"}}, "at '/web/replicas': got string, want integer"),
        (
            {"containerSecurityContext": {"readOnlyRootFilesystem": False}},
            "readOnlyRootFilesystem': value must be true",
        ),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot': value must be true"),
        ({"domainSuffix": "https://banchengshi.example.cn"}, "at '/domainSuffix'"),
        ({"wbe": {"replicas": 3}}, "additional properties 'wbe' not allowed"),
        ({"secrets": {"databaseUrl": "mysql://x"}}, "at '/secrets/databaseUrl'"),
        # The production settings refuse keys under 50 characters and placeholders: fail the install, not the pods.
        ({"secrets": {"secretKey": "q7Lw2xZ9vB"}}, "at '/secrets/secretKey'"),
        # A budget of no pod at all blocks every node drain for good.
        ({"web": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "0%"}}}, "/web/podDisruptionBudget"),
        ({"worker": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "0%"}}}, "/worker/podDisruptionBudget"),
        ({"secrets": {"secretKey": "change-me-" + "x" * 50}}, "at '/secrets/secretKey'"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(values, message):
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name="bcs", namespace="banchengshi")
    assert message in str(refused.value)
    report = helm.lint(str(CHART), values, strict=True)
    assert any(message in m["error"] for m in report["messages"] if m["severity"] == 3)


def test_an_autoscaler_floor_above_its_ceiling_is_refused():
    values = _with_key(yaml.safe_load((ROOT / "helm" / "testdata" / "bad-values-hpa.yaml").read_text()))
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmRenderError) as refused:
        chart.render(values, name="bcs", namespace="banchengshi")
    assert "web.autoscaling.minReplicas must not be greater than web.autoscaling.maxReplicas" in str(refused.value)


def test_the_migration_hooks_secret_has_every_key_the_production_settings_require():
    """The hook pod loads the production settings: with the HTTP SMS provider they refuse to start
    without SMS_SECRET, so the hook's own Secret must carry it like the release's Secret does."""
    values = {"secrets": {"smsSecret": "shared-with-the-provider", "databaseUrl": "postgresql://u@db/x"}}
    documents = _render(values)
    (hook_secret,) = _of(documents, "Secret", "-migrate")
    (config,) = _of(documents, "ConfigMap", "-migrate")
    assert config["data"]["SMS_BACKEND"] == "notifications.channels.HttpSmsBackend"
    for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEYS", "SMS_SECRET"):
        assert key in hook_secret["stringData"], key
    assert hook_secret["stringData"]["SMS_SECRET"] == "shared-with-the-provider"


def _egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}


@pytest.mark.parametrize(
    ("config", "port"),
    [
        ({"emailHost": "smtp.gx.example.cn", "emailPort": 2525}, 2525),
        ({"smsEndpoint": "https://sms.gx.example.cn:8443/api/send"}, 8443),
        ({"smsEndpoint": "http://sms.gxzwy.example.cn/api/send"}, 80),  # on the extranet, without TLS
    ],
)
def test_the_network_policy_lets_mail_and_sms_out_on_the_ports_the_values_name(config, port):
    """config.emailPort and the SMS endpoint's port were accepted but never reached the egress
    rule: the policy dropped every message, which showed only as undelivered mail and SMS."""
    documents = _render({"config": {"logLevel": "INFO", "logFormat": "json", **config}})
    for component in ("web", "worker"):
        (policy,) = _of(documents, "NetworkPolicy", f"-{component}")
        assert port in _egress_ports(policy), component
        for document in documents:
            document.pop("_template", None)
        kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)


def _duration_seconds(text: str) -> int:
    """Go's duration as Helm's --timeout takes it: 75m, 1h30m, 300s."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(int(n) * units[u] for n, u in parts)


def test_the_documented_helm_command_waits_as_long_as_the_migration_may_run():
    """Helm waits for a hook Job only --timeout (5 minutes unless given), whatever the Job's own
    activeDeadlineSeconds: a county migration of 6 minutes failed every upgrade while the Job went on
    migrating, and the next attempt deleted it mid-run. The documented command must say how long."""
    deadline = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["migrations"][
        "activeDeadlineSeconds"
    ]
    commands = [
        line
        for line in (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*helm (upgrade|install) ", line)
    ]
    assert commands
    for command in commands:
        timeout = re.search(r"--timeout[= ](\S+)", command)
        assert timeout, command
        assert _duration_seconds(timeout.group(1)) > deadline, command


def test_the_hooks_copy_of_the_secrets_is_deleted_once_the_migration_succeeded():
    """Hook resources are not part of the release: the copy of DATABASE_URL and FIELD_ENCRYPTION_KEYS
    stayed in the namespace after every upgrade, and even after `helm uninstall`."""
    (hook_secret,) = _of(_render(None), "Secret", "-migrate")
    policy = hook_secret["metadata"]["annotations"]["helm.sh/hook-delete-policy"].split(",")
    assert "hook-succeeded" in policy and "before-hook-creation" in policy


# --- beat: alive means ticking; never two at once (ADR 25) ----------------------------------------------


def test_beats_liveness_probe_checks_the_age_of_its_heartbeat():
    """The probe was `test -s /tmp/celerybeat-schedule`: a beat hung for hours still passed it."""
    for value_set in VALUE_SETS:
        (beat,) = _of(_render(_values(value_set)), "Deployment", "-beat")
        (container,) = beat["spec"]["template"]["spec"]["containers"]
        command = container["livenessProbe"]["exec"]["command"]
        assert command[:2] == ["sh", "/app/deploy/beat-alive.sh"], command
        # Beat ticks at least every 20 s (a third of its lock's 60 s): 120 s is six missed ticks.
        assert int(command[2]) >= 60
        assert (ROOT / "deploy" / "beat-alive.sh").is_file()


# --- the media volume on several nodes ------------------------------------------------------------------


def _media_values(access_mode: str, **persistence: Any) -> dict[str, Any]:
    return {"media": {"persistence": {"enabled": True, "accessMode": access_mode, **persistence}}}


def _media_pods(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name.rsplit("-", 1)[-1]: spec
        for name, spec in _pod_specs(documents).items()
        if any(v["name"] == "media" and "persistentVolumeClaim" in v for v in spec.get("volumes", []))
    }


def test_a_read_write_many_claim_is_the_default_and_lets_pods_spread_over_nodes():
    documents = _render(_media_values("ReadWriteMany"))
    (claim,) = _of(documents, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pods = _media_pods(documents)
    assert {"web", "worker"} <= set(pods)
    for spec in pods.values():
        assert "podAffinity" not in spec.get("affinity", {})
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert defaults["media"]["persistence"]["accessMode"] == "ReadWriteMany"


@pytest.mark.parametrize("access_mode", ["ReadWriteOnce", "ReadWriteOncePod"])
def test_a_single_node_claim_shared_by_web_and_worker_pods_is_refused_with_the_way_out(access_mode):
    """A ReadWriteOnce volume attaches to one node: web and worker pods scheduled elsewhere hung in
    ContainerCreating (Multi-Attach error) while the chart rendered without a word."""
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmRenderError) as refused:
        chart.render(_with_key(_media_values(access_mode)), name="bcs", namespace="banchengshi")
    message = str(refused.value)
    assert f"media.persistence.accessMode is {access_mode}" in message
    assert "ReadWriteMany" in message
    if access_mode == "ReadWriteOnce":
        assert "media.persistence.singleNode" in message


def test_a_read_write_once_claim_on_purpose_keeps_every_pod_that_mounts_it_on_one_node():
    values = _media_values("ReadWriteOnce", singleNode=True)
    app_nodes = {"matchExpressions": [{"key": "node-role.example.cn/app", "operator": "In", "values": ["true"]}]}
    node_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [app_nodes]}}
    values["web"] = {
        **yaml.safe_load((CHART / "values.yaml").read_text())["web"],
        "affinity": {"nodeAffinity": node_affinity},
    }
    documents = _render(values)
    pods = _media_pods(documents)
    assert {"web", "worker", "beat"} <= set(pods)
    for name, spec in pods.items():
        (term,) = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname", name
        expressions = {e["key"]: e["values"] for e in term["labelSelector"]["matchExpressions"]}
        assert expressions["app.kubernetes.io/instance"] == ["bcs"], name
        assert set(expressions["app.kubernetes.io/component"]) == set(pods), name
        # The pod matches its own term: the first one may land anywhere, the others follow it.
        assert name in expressions["app.kubernetes.io/component"], name
    # The operator's own affinity is kept beside it, and spreading web pods over nodes is not asked for.
    assert "nodeAffinity" in pods["web"]["affinity"]
    assert "topologySpreadConstraints" not in pods["web"]
    for document in documents:
        document.pop("_template", None)
        kubernetes_validate.validate(document, KUBE_VERSION, strict=True)


# --- workers put back what they cannot finish before they are killed ------------------------------------


@pytest.mark.parametrize("grace", [30, 300, 600])
def test_workers_put_their_running_tasks_back_before_the_grace_period_ends(grace):
    """Kubernetes kills a worker still busy when terminationGracePeriodSeconds is up: its task waited
    out the broker's visibility timeout (2 h) before another worker ran it. The worker now turns
    its warm shutdown into a cold one (running tasks back in the queue) in time."""
    (worker,) = _of(_render({"worker": {**yaml.safe_load((CHART / "values.yaml").read_text())["worker"],
                                        "terminationGracePeriodSeconds": grace}}), "Deployment", "-worker")  # fmt: skip
    spec = worker["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == grace
    env = {e["name"]: e["value"] for e in spec["containers"][0].get("env", [])}
    warm = int(env["WORKER_WARM_SHUTDOWN_SECONDS"])
    assert warm > 0 and warm + 15 <= grace
