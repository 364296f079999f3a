"""The one place that knows every domain: its models (for Alembic and ``create_all``),
its job handlers and its routers."""

from __future__ import annotations

from fastapi import APIRouter


def load_all() -> None:
    """Import every module that registers models, job handlers or schedules."""
    import puhui.accounts.tasks
    import puhui.acquisition.models
    import puhui.acquisition.tasks
    import puhui.audit.tasks
    import puhui.core.idempotency
    import puhui.core.jobs
    import puhui.core.limits
    import puhui.ingest.tasks
    import puhui.instant.models
    import puhui.matching.tasks
    import puhui.models
    import puhui.monitoring.tasks
    import puhui.notifications.tasks
    import puhui.objections.tasks
    import puhui.profile.tasks
    import puhui.psi.tasks
    import puhui.quality.tasks
    import puhui.scoring.models
    import puhui.scoring.tasks
    import puhui.stats.tasks
    import puhui.verification.tasks  # noqa: F401


def routers() -> list[APIRouter]:
    from puhui.accounts import routes as accounts_api
    from puhui.accounts import views as accounts_views
    from puhui.acquisition import routes as acquisition_api
    from puhui.acquisition import views as acquisition_views
    from puhui.audit import routes as audit_api
    from puhui.audit import views as audit_views
    from puhui.catalog import routes as catalog_api
    from puhui.catalog import views as catalog_views
    from puhui.consent import routes as consent_api
    from puhui.consent import views as consent_views
    from puhui.entities import routes as entities_api
    from puhui.entities import views as entities_views
    from puhui.ingest import routes as ingest_api
    from puhui.ingest import views as ingest_views
    from puhui.instant import routes as instant_api
    from puhui.instant import views as instant_views
    from puhui.matching import routes as matching_api
    from puhui.matching import views as matching_views
    from puhui.monitoring import routes as monitoring_api
    from puhui.monitoring import views as monitoring_views
    from puhui.notifications import routes as notifications_api
    from puhui.notifications import views as notifications_views
    from puhui.objections import routes as objections_api
    from puhui.objections import views as objections_views
    from puhui.operations import routes as operations_api
    from puhui.operations import views as operations_views
    from puhui.profile import routes as profile_api
    from puhui.profile import views as profile_views
    from puhui.psi import routes as psi_api
    from puhui.quality import routes as quality_api
    from puhui.quality import views as quality_views
    from puhui.scoring import routes as scoring_api
    from puhui.scoring import views as scoring_views
    from puhui.stats import routes as stats_api
    from puhui.stats import views as stats_views
    from puhui.verification import routes as verification_api
    from puhui.verification import views as verification_views

    return [
        accounts_api.router,
        audit_api.router,
        catalog_api.router,
        consent_api.router,
        profile_api.router,
        entities_api.router,
        ingest_api.router,
        matching_api.router,
        acquisition_api.router,
        instant_api.router,
        psi_api.router,
        scoring_api.router,
        monitoring_api.router,
        notifications_api.router,
        objections_api.router,
        operations_api.router,
        verification_api.router,
        stats_api.router,
        quality_api.router,
        accounts_views.router,
        audit_views.router,
        catalog_views.router,
        consent_views.router,
        profile_views.router,
        entities_views.router,
        ingest_views.router,
        matching_views.router,
        acquisition_views.router,
        instant_views.router,
        scoring_views.router,
        monitoring_views.router,
        notifications_views.router,
        objections_views.router,
        operations_views.router,
        verification_views.router,
        stats_views.router,
        quality_views.router,
    ]
