"""/v1/products: similar products, product metadata upserts (cold start at once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from engine.catalog import ProductMetadata
from engine.errors import (
    BrokerUnavailableError,
    ConfigError,
    DataError,
    ProductLogError,
    UnknownItemError,
)
from serving.api.deps import Authorized, ServedDep, StateDep
from serving.api.errors import error_responses
from serving.api.recommendations import items_of
from serving.api.schemas import (
    PRODUCT_ID_DOC,
    K,
    ProductId,
    ProductIn,
    ProductOut,
    ProductUpsertOut,
    SimilarOut,
)
from serving.model_manager import ServedModel

router = APIRouter(prefix="/v1/products", tags=["products"])

# `:path` so that ids with "/" (allowed by the event schema) can be addressed; the /similar
# route is declared first so that it wins over a product id ending in "/similar".
ProductPath = Annotated[ProductId, Path(description=PRODUCT_ID_DOC)]


def _unknown(product_id: str, served: ServedModel) -> HTTPException:
    return HTTPException(
        404,
        f"unknown product {product_id!r}: model {served.version} has no such product; "
        f"PUT /v1/products/{product_id} with its metadata to add it",
    )


def _product_out(product_id: str, served: ServedModel) -> ProductOut | None:
    catalog = served.model.catalog
    state = catalog.state
    row = state.row_of(product_id)
    if row is None:
        return None
    meta = state.metadata_of(row) or ProductMetadata()
    return ProductOut(
        product_id=product_id,
        category=catalog.category_of(row),
        brand=meta.brand,
        price=meta.price,
        title=meta.title,
        available=bool(state.available[row]),
        trained=row < catalog.n_trained,
        model_version=served.version,
    )


@router.get(
    "/{product_id:path}/similar",
    response_model=SimilarOut,
    responses=error_responses(404, 422),
    summary="Products most similar to this one (item to item)",
)
async def similar(
    served: ServedDep,
    state: StateDep,
    product_id: ProductPath,
    k: Annotated[K, Query()] = 20,
) -> SimilarOut:
    try:
        rec = served.recommender.similar_items(product_id, k)
    except UnknownItemError:
        raise _unknown(product_id, served) from None
    state.api_metrics.recommendations.labels(rec.strategy, "false").inc()
    return SimilarOut(
        model_version=served.version, product_id=product_id, items=items_of(rec, product_id)
    )


@router.get(
    "/{product_id:path}",
    response_model=ProductOut,
    responses=error_responses(404, 422),
    summary="What the served model knows about a product",
)
async def product(served: ServedDep, product_id: ProductPath) -> ProductOut:
    out = _product_out(product_id, served)
    if out is None:
        raise _unknown(product_id, served)
    return out


@router.put(
    "/{product_id:path}",
    response_model=ProductUpsertOut,
    status_code=200,
    dependencies=[Authorized],
    responses={
        201: {"model": ProductUpsertOut, "description": "Created (a cold-start product)"},
        **error_responses(400, 401, 403, 409, 413, 422, 503),
    },
    summary="Add or update a product's metadata (recommendable at once)",
)
def upsert_product(
    state: StateDep, product_id: ProductPath, body: ProductIn, response: Response
) -> ProductUpsertOut:
    """The update is in the product log (fsync'd, or acknowledged by Kafka) and applied to
    this process when this returns; the other processes apply it as they read the log."""
    try:
        created, served = state.product_updates.put(product_id, body.model_dump(exclude_unset=True))
    except ConfigError as exc:  # the catalogue is full until the next training run
        raise HTTPException(409, str(exc)) from None
    except DataError as exc:  # a new product without metadata: nothing to place it by
        raise HTTPException(422, str(exc)) from None
    except (BrokerUnavailableError, ProductLogError) as exc:  # not logged, so not applied
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
    if created:
        response.status_code = 201
    out = _product_out(product_id, served)
    assert out is not None  # just added
    return ProductUpsertOut(**out.model_dump(), created=created)
