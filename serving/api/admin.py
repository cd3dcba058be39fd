"""/v1/admin: reload the model, describe the served model (bearer token required)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from engine.errors import DataError
from serving.api.deps import Authorized, StateDep
from serving.api.errors import error_responses
from serving.api.schemas import ExperimentReportOut, ExperimentsOut, ModelOut, ReloadOut

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Authorized])


@router.post(
    "/reload",
    response_model=ReloadOut,
    responses=error_responses(401, 403, 409),
    summary="Load the bundle 'latest' points at now (instead of waiting for the watcher)",
)
def reload(state: StateDep) -> ReloadOut:
    """Swaps with no failed request. A bundle that cannot be loaded is refused with 409 and
    the message why; the old model keeps serving."""
    result = state.models.reload(force=True)
    if result.status == "refused":
        raise HTTPException(
            409,
            f"refused the bundle {result.bundle or state.models.artifacts}: {result.error}; "
            f"still serving {result.version}",
        )
    experiments = state.loop.experiments
    status = state.loop.reload() if experiments.path is not None else "none"
    if status == "refused":
        raise HTTPException(
            409,
            f"refused the experiments file {experiments.path}; the previous config keeps "
            f"serving ({experiments.describe_running()}):\n{experiments.last_error}",
        )
    return ReloadOut(
        status=result.status,
        version=result.version,
        previous_version=result.previous_version,
        bundle=result.bundle,
        experiments=status,
    )


@router.get(
    "/model",
    response_model=ModelOut,
    responses=error_responses(401, 403),
    summary="The served model: version, sizes, upserts, last reload error",
)
async def model(state: StateDep) -> ModelOut:
    models = state.models
    served = models.current
    d = served.model.describe()
    return ModelOut(
        version=served.version,
        bundle=str(served.bundle_dir),
        artifacts=str(models.artifacts),
        loaded_at=served.loaded_at,
        items=d["items"],
        dim=d["dim"],
        sessions=d["sessions"],
        new_items=d["new_items"],
        unavailable=d["unavailable"],
        upserts=models.upserts,
        reloads=models.reloads,
        last_reload_error=models.last_error,
    )


@router.get(
    "/experiments",
    response_model=ExperimentsOut,
    responses=error_responses(401, 403),
    summary="The experiments file: what runs, what is declared, the last refusal",
)
async def experiments(state: StateDep) -> ExperimentsOut:
    return ExperimentsOut(**state.loop.experiments.describe())


@router.get(
    "/experiments/{name}",
    response_model=ExperimentReportOut,
    responses=error_responses(401, 403, 404, 422),
    summary="An experiment's report: rates, intervals, lift, p-values, sample-ratio check",
)
def experiment_report(state: StateDep, name: str) -> ExperimentReportOut:
    """With the files sink the report is computed from the service's own logs (the same query
    and statistics as `python -m pipelines experiment-report`); otherwise the newest report
    the batch job left in NOWREC_EXPERIMENT_REPORTS_DIR is served."""
    experiment = state.loop.experiments.config.get(name)
    if experiment is None:
        declared = [e.name for e in state.loop.experiments.config.experiments]
        raise HTTPException(404, f"no experiment {name!r} is declared; declared: {declared}")
    try:
        report = state.loop.report(experiment)
    except DataError as exc:
        raise HTTPException(404, str(exc)) from None
    return ExperimentReportOut.model_validate(report)
