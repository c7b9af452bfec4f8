from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from casework.exchange.models import Envelope, ForwardAgreement
from casework.forwarding.services import envelope_apply
from casework.tests.conftest import anonymous_api, staff_api  # noqa: F401 - shared fixtures
from conftest import county_config_path
from tenants.config import county_config_read
from tenants.models import County
from tenants.services import county_onboard


@pytest.fixture(scope="session")
def third_county(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> County:
    """邵阳县 (湖南), for 多地联办 with 城中区 (广西) and 龙井市 (吉林)."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        return county_onboard(config=county_config_read(county_config_path("shaoyang"))).county


@pytest.fixture
def county_c(third_county: County, db: None) -> County:
    return third_county


@pytest.fixture
def agreement(county_a: County, county_b: County) -> Callable[..., ForwardAgreement]:
    """The demo counties are in three provinces: forwarding between them needs an agreement (跨省通办)."""

    def make(first: County = county_a, second: County = county_b) -> ForwardAgreement:
        low, high = sorted((first.code, second.code))
        return ForwardAgreement.objects.create(first_code=low, second_code=high, created_by="operator")

    return make


def deliver_all() -> int:
    """What the worker does: apply every undelivered envelope in its target county's schema."""
    applied = 0
    while True:
        pending = list(Envelope.objects.filter(delivered_at__isnull=True).order_by("created_at"))
        if not pending:
            return applied
        for envelope in pending:
            # As tenant-schemas-celery does for a task: the county itself, not only its schema.
            with tenant_context(County.objects.get(schema_name=envelope.target_schema)):
                applied += envelope_apply(envelope_id=envelope.pk)


@pytest.fixture
def deliver() -> Callable[[], int]:
    return deliver_all


def counties_committed(
    counties: tuple[tuple[str, str, str, str], ...], *, django_db_blocker: Any, tmp_path_factory: Any
) -> list[County]:
    """Counties of 邵阳县's province onboarded for real (code, slug, prefix, name each): a module
    whose tests commit uses its own, so what it commits never meets other tests."""
    source = (Path(settings.COUNTY_CONFIG_DIR) / "shaoyang.yaml").read_text(encoding="utf-8")
    made = []
    for code, slug, prefix, name in counties:
        text = (
            source.replace('code: "430523"', f'code: "{code}"').replace("slug: shaoyang", f"slug: {slug}")
            .replace("case_prefix: SY", f"case_prefix: {prefix}")
            .replace("name: 邵阳县", f"name: {name}").replace("full_name: 邵阳县", f"full_name: {name}")
        )  # fmt: skip
        path = tmp_path_factory.mktemp(slug) / f"{slug}.yaml"
        path.write_text(text, encoding="utf-8")
        with django_db_blocker.unblock():
            made.append(county_onboard(config=county_config_read(path)).county)
    return made
