"""/v1/products: similar products, product metadata upserts (cold start at once)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.convertors import PathConvertor, register_url_convertor

from engine.catalog import ProductMetadata
from engine.errors import ConfigError, DataError, UnknownItemError
from engine.ids import ID_RULE, id_problem
from serving.api.deps import Authorized, ServedDep, StateDep
from serving.api.errors import error_responses
from serving.api.recommendations import items_of
from serving.api.schemas import (
    PRODUCT_ID_DOC,
    SESSION_ID_DOC,
    K,
    ProductId,
    ProductIn,
    ProductOut,
    ProductsOut,
    ProductUpsertOut,
    SessionId,
    SimilarOut,
)
from serving.errors import BrokerUnavailableError, ProductLogError
from serving.model_manager import ServedModel

router = APIRouter(prefix="/v1/products", tags=["products"])


class _ProductIdConvertor(PathConvertor):
    """``:path`` (any text, "/" included) that also takes newlines: ``.*`` stops at one, so an
    id with a newline would get 404 "no route" (or lose a trailing one to ``$``) instead of the
    id policy's 422 saying what is wrong."""

    regex = r"[\s\S]*"


register_url_convertor("product_id", _ProductIdConvertor())

# `:product_id` (a `:path`) so that ids with "/" (allowed by the id policy) can be addressed;
# the /similar route is declared first so that it wins over a product id ending in "/similar",
# unless that "/" came percent-encoded (see _names_the_similar_route).
ProductPath = Annotated[ProductId, Path(description=PRODUCT_ID_DOC)]


def _names_the_similar_route(request: Request) -> bool:
    """Whether the request path ends in a literal ``/similar`` segment.

    The router matches the decoded path, where ``a%2Fsimilar`` and ``a/similar`` look the same;
    only the raw path tells them apart. ``GET /v1/products/a%2Fsimilar`` asks for the product
    ``a/similar``, ``GET /v1/products/a/similar`` for the products similar to ``a``. A server
    that does not pass the raw path (optional in ASGI) gets the route, as before.
    """
    raw = request.scope.get("raw_path")
    if not raw:
        return True
    last = raw.split(b"?", 1)[0].rsplit(b"/", 1)[-1]
    return unquote_to_bytes(last) == b"similar"


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


#: Products one GET /v1/products may ask for (a strip, a page of results).
MAX_LOOKUP = 100


@router.get(
    "",
    response_model=ProductsOut,
    responses=error_responses(422),
    summary="What the served model knows about several products (e.g. a strip's titles)",
)
async def products(
    served: ServedDep,
    product_id: Annotated[
        list[ProductId],
        Query(
            min_length=1,
            max_length=MAX_LOOKUP,
            description=f"Repeat for each product (at most {MAX_LOOKUP}). {PRODUCT_ID_DOC}",
        ),
    ],
) -> ProductsOut:
    """Known products in the order asked; unknown ones are listed apart (no 404), so a page
    can render what exists."""
    found = {p: _product_out(p, served) for p in dict.fromkeys(product_id)}
    return ProductsOut(
        model_version=served.version,
        products=[out for out in found.values() if out is not None],
        unknown=[p for p, out in found.items() if out is None],
    )


@router.get(
    "/{product_id:product_id}/similar",
    response_model=SimilarOut,
    responses=error_responses(404, 422),
    summary="Products most similar to this one (item to item)",
    description="A product whose id itself ends in '/similar' is read with "
    "GET /v1/products/{product_id}, that '/' sent as %2F (e.g. /v1/products/a%2Fsimilar).",
)
async def similar(
    request: Request,
    state: StateDep,
    product_id: ProductPath,
    k: Annotated[K, Query()] = 20,
    session_id: Annotated[
        SessionId | None,
        Query(
            description=f"The visitor's session, for experiments and attribution. {SESSION_ID_DOC}"
        ),
    ] = None,
) -> SimilarOut | JSONResponse:
    if not _names_the_similar_route(request):
        served = state.models.current
        return JSONResponse(jsonable_encoder(_lookup(f"{product_id}/similar", served)))
    choice = state.loop.choose(session_id)
    try:
        rec = choice.similar(product_id, k)
    except UnknownItemError:
        raise _unknown(product_id, choice.served) from None
    state.api_metrics.recommendations.labels(rec.strategy, "false").inc()
    rec_id = state.loop.answered(
        choice, rec, session_id=session_id, product_id=product_id, route="similar"
    )
    return SimilarOut(
        recommendation_id=rec_id,
        variant=choice.variant,
        experiment=choice.experiment,
        model_version=choice.served.version,
        product_id=product_id,
        items=items_of(rec, product_id),
    )


@router.get(
    "/{product_id:product_id}",
    response_model=ProductOut,
    responses=error_responses(404, 422),
    summary="What the served model knows about a product",
)
async def product(served: ServedDep, product_id: ProductPath) -> ProductOut:
    return _lookup(product_id, served)


def _lookup(product_id: str, served: ServedModel) -> ProductOut:
    problem = id_problem(product_id)
    if problem is not None:  # an id put together by similar() was not checked as a whole
        raise HTTPException(422, f"path parameter product_id: {problem}; ids are {ID_RULE}")
    out = _product_out(product_id, served)
    if out is None:
        raise _unknown(product_id, served)
    return out


@router.put(
    "/{product_id:product_id}",
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
