"""A seeded generator of a realistic demo shop: the embedded default for ``make train``.

What it plants, so that a model trained on it has something true to find:

* **Catalogue**: 20 categories in 5 departments, each with its own brands, nouns and
  adjectives (titles like "Nordlys Trail Running Shoes X42"), log-normal prices per category,
  ~5,000 products, a few unavailable ones and ~2% new arrivals that have no views yet.
* **Neighbourhoods**: each category is cut into groups of ~15 products of similar price (the
  shoes people compare with each other); they are the co-view structure.
* **Popularity**: Zipf-distributed over products (a few best-sellers, a long tail).
* **Sessions**: users (several sessions each, > 30 minutes apart) browse mostly within a
  neighbourhood, sometimes a neighbouring price tier, sometimes another category of the same
  department, go back to an earlier product, reload a page (immediate repeat), or click
  something unrelated (noise). Dwell times are log-normal, with some sub-second misclicks;
  a few views lead to cart/purchase events, and a few events are exported twice.
* **Test pairs**: sessions of the days after the training window, as (prefix -> next item)
  pairs in the format of ``diginetica/test_pairs.parquet``, for ``--test-pairs``.

Events carry no session id: the pipeline cuts sessions from ``user_id`` + ``ts``.
Same seed, same files (byte for byte the same tables).
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import ConfigError
from engine.progress import progress

log = logging.getLogger(__name__)

DEFAULT_DIR = Path("data") / "demo"
EVENTS_FILE = "events.parquet"
PRODUCTS_FILE = "products.parquet"
TEST_PAIRS_FILE = "test_pairs.parquet"
INFO_FILE = "demo_shop.json"

# department -> category slug -> (nouns, brands, median price)
_CATALOGUE: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...], float]]] = {
    "electronics": {
        "smartphones": (("Phone", "Smartphone"), ("Kivo", "Lumen", "Orbit", "Pixa"), 420.0),
        "laptops": (("Laptop", "Notebook", "Ultrabook"), ("Kivo", "Verta", "Corex"), 950.0),
        "headphones": (("Headphones", "Earbuds", "Headset"), ("Sonra", "Lumen", "Beatz"), 90.0),
        "televisions": (("TV", "Smart TV", "OLED TV"), ("Visio", "Orbit", "Panora"), 700.0),
        "cameras": (("Camera", "Mirrorless Camera", "Action Cam"), ("Optik", "Fujo"), 600.0),
    },
    "fashion": {
        "running-shoes": (("Running Shoes", "Trail Shoes"), ("Stride", "Nordlys", "Apex"), 110.0),
        "sneakers": (("Sneakers", "High-Tops", "Trainers"), ("Stride", "Urbana", "Kicko"), 85.0),
        "jackets": (("Jacket", "Parka", "Rain Jacket"), ("Nordlys", "Fjellro", "Urbana"), 140.0),
        "dresses": (("Dress", "Maxi Dress", "Shirt Dress"), ("Belle", "Urbana", "Lino"), 60.0),
        "jeans": (("Jeans", "Slim Jeans", "Denim"), ("Indaco", "Urbana", "Rivet"), 55.0),
    },
    "home": {
        "sofas": (("Sofa", "Corner Sofa", "Loveseat"), ("Hygge", "Casa", "Nordform"), 800.0),
        "lamps": (("Lamp", "Floor Lamp", "Desk Lamp"), ("Lumo", "Casa", "Nordform"), 45.0),
        "cookware": (("Frying Pan", "Saucepan", "Wok"), ("Ferro", "Cucina", "Chefa"), 40.0),
        "coffee-machines": (("Espresso Machine", "Coffee Maker"), ("Barista", "Cucina"), 250.0),
    },
    "leisure": {
        "board-games": (("Board Game", "Strategy Game", "Party Game"), ("Meeple", "Dado"), 35.0),
        "toys": (("Building Set", "Plush Toy", "Puzzle"), ("Brixo", "Dado", "Kiddo"), 25.0),
        "bikes": (("Road Bike", "Mountain Bike", "City Bike"), ("Velo", "Apex", "Rolla"), 650.0),
        "tents": (("Tent", "Backpacking Tent", "Camping Tent"), ("Fjellro", "Nordlys"), 180.0),
    },
    "beauty": {
        "skincare": (("Face Cream", "Serum", "Cleanser"), ("Aurae", "Derma", "Lino"), 28.0),
        "perfume": (("Eau de Parfum", "Eau de Toilette"), ("Aurae", "Belle", "Musca"), 70.0),
    },
}
_ADJECTIVES = (
    "Classic", "Pro", "Lite", "Max", "Air", "Eco", "Ultra", "Compact", "Premium", "Essential",
    "Sport", "Urban", "Studio", "Travel", "Smart", "Bold", "Soft", "Nova",
)  # fmt: skip
_COLOURS = ("Black", "White", "Blue", "Red", "Green", "Grey", "Sand", "Navy", "Olive", "Rose")


@dataclass(frozen=True)
class DemoShopConfig:
    """Size and behaviour of the generated shop.

    Args:
        seed: random seed; the same seed gives the same shop.
        n_products: catalogue size (new arrivals included).
        n_users: visitors; each has one or more sessions.
        n_sessions: training sessions.
        n_test_sessions: sessions after the training window, turned into test pairs.
        days: length of the training window.
        start: first day of the training window (UTC).
        zipf: exponent of the popularity distribution.
        neighbourhood_size: products per co-view neighbourhood (similar price, same category).
    """

    seed: int = 7
    n_products: int = 5000
    n_users: int = 8000
    n_sessions: int = 20000
    n_test_sessions: int = 1500
    days: int = 28
    start: str = "2026-01-05"
    zipf: float = 1.0
    neighbourhood_size: int = 15

    def __post_init__(self) -> None:
        if self.n_products < 200:
            raise ConfigError("the demo shop needs at least 200 products")
        if min(self.n_users, self.n_sessions, self.days) < 1 or self.n_test_sessions < 0:
            raise ConfigError("users, sessions and days must be >= 1")
        if max(self.n_products, self.n_users) > np.iinfo(np.int32).max:
            # the generator keeps products and users as 32-bit numbers (compact columns)
            raise ConfigError("the demo shop has at most 2,147,483,647 products and users")


@dataclass(frozen=True)
class DemoShop:
    """The generated tables, plus the planted structure (for tests and explanations)."""

    products: pa.Table
    events: pa.Table
    test_pairs: pa.Table
    neighbourhood: np.ndarray  # neighbourhood index of each product row
    department: dict[str, str]  # category -> department
    config: DemoShopConfig


def _catalogue(rng: np.random.Generator, cfg: DemoShopConfig):
    cats = [(dept, cat) for dept, cs in _CATALOGUE.items() for cat in cs]
    shares = rng.dirichlet(np.full(len(cats), 4.0))
    floor = min(40, cfg.n_products // (2 * len(cats)))  # every category has some products
    sizes = floor + np.floor(shares * (cfg.n_products - floor * len(cats))).astype(int)
    sizes[np.argmax(sizes)] += cfg.n_products - sizes.sum()  # exact total
    rows: dict[str, list] = {
        k: [] for k in ("item_id", "category_id", "brand", "price", "title", "available")
    }
    hood: list[int] = []
    n_hoods = 0
    used_titles: set[str] = set()
    for (dept, cat), size in zip(cats, sizes, strict=True):
        nouns, brands, median = _CATALOGUE[dept][cat]
        prices = np.sort(np.exp(rng.normal(np.log(median), 0.55, size)))
        brand_p = rng.dirichlet(np.full(len(brands), 2.0))
        # neighbourhoods: consecutive products in price order (what people compare)
        k = max(1, round(size / cfg.neighbourhood_size))
        bounds = np.linspace(0, size, k + 1).round().astype(int)
        for h in range(k):
            for _ in range(bounds[h], bounds[h + 1]):
                hood.append(n_hoods + h)
        n_hoods += k
        for price in prices:
            brand = brands[rng.choice(len(brands), p=brand_p)]
            # a few draws for a fresh title; a big catalogue can exhaust a category's
            # combinations, so then a serial number makes it unique (never an endless loop)
            for attempt in range(8):
                title = (
                    f"{brand} {_ADJECTIVES[rng.integers(len(_ADJECTIVES))]} "
                    f"{nouns[rng.integers(len(nouns))]} {_COLOURS[rng.integers(len(_COLOURS))]}"
                    f" {rng.integers(10, 99)}"
                )
                if attempt == 7:
                    title = f"{title}-{len(used_titles)}"
                if title not in used_titles:
                    break
            used_titles.add(title)
            rows["category_id"].append(cat)
            rows["brand"].append(brand)
            rows["price"].append(round(float(price), 2))
            rows["title"].append(title)
            rows["available"].append(bool(rng.random() > 0.03))
    n = len(rows["category_id"])
    rows["item_id"] = list(range(100_001, 100_001 + n))
    return rows, np.asarray(hood, dtype=np.int64), {cat: dept for dept, cat in cats}


class _Browser:
    """Draws the next product of a session from the planted structure."""

    def __init__(self, rng, categories, hood, department, weight) -> None:
        self.rng = rng
        self.hood = hood.tolist()
        self.categories = categories.tolist()
        self.weight = weight
        self.n = len(categories)
        order = np.argsort(hood, kind="stable")
        hoods = np.split(order, np.flatnonzero(np.diff(hood[order])) + 1)
        # Python lists + bisect: this loop runs once per click, numpy call overhead dominates.
        self.hood_members = [m.tolist() for m in hoods]
        self.hood_cum = [np.cumsum(weight[m]).tolist() for m in hoods]
        cat_names = sorted(set(categories))
        members = {c: np.flatnonzero(categories == c) for c in cat_names}
        self.cat_members = {c: m.tolist() for c, m in members.items()}
        self.cat_hoods = {c: np.unique(hood[m]).tolist() for c, m in members.items()}
        self.cat_cum = {c: np.cumsum(weight[m]).tolist() for c, m in members.items()}
        self.same_dept = {
            c: [d for d in cat_names if d != c and department[d] == department[c]]
            for c in cat_names
        }
        self.cat_names = cat_names
        self.all_items = list(range(self.n))
        self.global_cum = np.cumsum(weight).tolist()

    def _pick(self, members: list[int], cum: list[float], avoid: int = -1) -> int:
        # A few tries to move on from the current product (a reload is its own event below).
        for _ in range(4):
            pick = members[bisect.bisect_right(cum, self.rng.random() * cum[-1])]
            if pick != avoid:
                break
        return pick

    def first(self) -> int:
        return self._pick(self.all_items, self.global_cum)

    def next(self, session: list[int]) -> int:
        cur = session[-1]
        cat, h = self.categories[cur], self.hood[cur]
        u = self.rng.random()
        if u < 0.58:  # same neighbourhood
            return self._pick(self.hood_members[h], self.hood_cum[h], cur)
        if u < 0.76:  # same category: mostly a neighbouring price tier
            hoods = self.cat_hoods[cat]
            pos = bisect.bisect_left(hoods, h)
            if self.rng.random() < 0.6 and len(hoods) > 1:
                pos = min(len(hoods) - 1, max(0, pos + (1 if self.rng.random() < 0.5 else -1)))
                g = hoods[pos]
                return self._pick(self.hood_members[g], self.hood_cum[g], cur)
            return self._pick(self.cat_members[cat], self.cat_cum[cat], cur)
        if u < 0.84:  # another category, usually of the same department
            options = self.same_dept[cat]
            if options and self.rng.random() < 0.75:
                other = options[self.rng.integers(len(options))]
            else:
                other = self.cat_names[self.rng.integers(len(self.cat_names))]
            return self._pick(self.cat_members[other], self.cat_cum[other])
        if u < 0.90 and len(session) > 1:  # back to an earlier product
            return session[self.rng.integers(len(session) - 1)]
        if u < 0.94:  # reload: immediate repeat
            return cur
        return int(self.rng.integers(self.n))  # noise click


#: Events per chunk: the generator turns its Python lists into compact arrays this often, and
#: writes the events file one Parquet row group of this many rows at a time (pyarrow's default
#: row group size, so the file is the one ``pq.write_table`` of the whole table would write).
CHUNK_ROWS = 1 << 20
#: Event types, by the small code the generator keeps per event.
_EVENT_TYPES = ("view", "cart", "purchase")
_VIEW, _CART, _PURCHASE = range(len(_EVENT_TYPES))
_EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("category_id", pa.string()),
        ("event_type", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class _Events:
    """Generated events as compact columns (17 bytes an event), in generation order."""

    user: np.ndarray  # int32: the user's index
    item: np.ndarray  # int32: the product's row
    kind: np.ndarray  # uint8: index into _EVENT_TYPES
    ts: np.ndarray  # float64: seconds since the epoch

    def __len__(self) -> int:
        return len(self.ts)


class _EventColumns:
    """Appends events to Python lists (the fast thing per event) and moves them into compact
    numpy chunks every :data:`CHUNK_ROWS` events, so a 60M-event shop never holds more than
    one chunk as Python objects (those take about 150 bytes an event)."""

    _DTYPES = {"user": np.int32, "item": np.int32, "kind": np.uint8, "ts": np.float64}

    def __init__(self, t0: float, absent: np.ndarray) -> None:
        self.t0, self.absent = t0, absent
        self.user: list[int] = []
        self.item: list[int] = []
        self.kind: list[int] = []
        self.ts: list[float] = []
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in self._DTYPES}

    def emit(self, user: int, item: int, kind: int, t: float) -> None:
        self.user.append(user)
        self.item.append(item)
        self.kind.append(kind)
        self.ts.append(t)

    def flush(self) -> None:
        if not self.ts:
            return
        item = np.asarray(self.item, dtype=np.int32)
        # Noise clicks may have hit a new arrival: those views did not happen (not yet listed).
        keep = ~self.absent[item]
        self.parts["user"].append(np.asarray(self.user, dtype=np.int32)[keep])
        self.parts["item"].append(item[keep])
        self.parts["kind"].append(np.asarray(self.kind, dtype=np.uint8)[keep])
        self.parts["ts"].append((self.t0 + np.asarray(self.ts, dtype=np.float64))[keep])
        self.user, self.item, self.kind, self.ts = [], [], [], []

    def done(self) -> _Events:
        self.flush()
        columns = {}
        for name, dtype in self._DTYPES.items():  # one column at a time: bounded overhead
            parts = self.parts.pop(name)
            columns[name] = np.concatenate(parts) if parts else np.empty(0, dtype)
            parts.clear()
        return _Events(**columns)


def _sessions(rng, browser, n_sessions, n_users, t0, span_s, absent, label="sessions"):
    """Generate ``n_sessions`` sessions as events (no session id), leaving out views of the
    ``absent`` products."""
    activity = rng.lognormal(0.0, 1.0, n_users)
    users = rng.choice(n_users, size=n_sessions, p=activity / activity.sum())
    sessions_of = np.bincount(users, minlength=n_users)
    active = np.flatnonzero(sessions_of)  # each user's sessions, users in increasing order
    out = _EventColumns(t0, absent)
    emit = out.emit
    bar = progress(total=n_sessions, desc=f"demo shop, {label}", unit="session")
    for lo in range(0, len(active), 1 << 16):
        block = active[lo : lo + (1 << 16)]
        for u, k in zip(block.tolist(), sessions_of[block].tolist(), strict=True):
            # session starts: sorted uniform times, pushed apart so visits are > 30 min apart
            starts = np.sort(rng.random(k)) * span_s * 0.9
            t_prev_end = -1e18
            for s in range(k):
                start = max(starts[s], t_prev_end + 1800 + rng.exponential(4 * 3600))
                length = int(min(40, 1 + rng.geometric(0.2)))
                session = [browser.first()]
                while len(session) < length:
                    session.append(browser.next(session))
                n = len(session)
                extra, dup, misclick = rng.random(n), rng.random(n), rng.random(n)
                waits = rng.exponential(1.0, (n, 2))
                dwell = np.minimum(rng.lognormal(np.log(25), 0.8, n), 600.0)
                dwell[misclick < 0.05] = 0.4  # sub-second misclicks
                t = start
                for j, item in enumerate(session):
                    emit(u, item, _VIEW, t)
                    if extra[j] < 0.04:  # into the cart, sometimes bought
                        emit(u, item, _CART, t + 5 + 10 * waits[j, 0])
                        if extra[j] < 0.01:
                            emit(u, item, _PURCHASE, t + 30 + 30 * waits[j, 1])
                    if dup[j] < 0.005:  # exported twice
                        emit(u, item, _VIEW, t)
                    t += dwell[j]
                t_prev_end = t
            if len(out.ts) >= CHUNK_ROWS:
                out.flush()
        bar.update(int(sessions_of[block].sum()))
    bar.close()
    return out.done()


@dataclass(frozen=True)
class _Plan:
    """Everything of a shop but the events table, which :meth:`event_chunks` makes (in
    chunks: the table of a 60M-event shop would not fit in memory)."""

    products: pa.Table
    test_pairs: pa.Table
    neighbourhood: np.ndarray
    department: dict[str, str]
    config: DemoShopConfig
    train: _Events
    order: np.ndarray  # the events' rows in the order they are written (like an export)
    item_ids: np.ndarray  # product row -> item id
    category_codes: np.ndarray  # product row -> index into category_names
    category_names: pa.Array

    @property
    def n_events(self) -> int:
        return len(self.order)

    def event_chunks(self) -> Iterator[pa.Table]:
        """The events table, :data:`CHUNK_ROWS` rows at a time, in the order of the file."""
        kinds = pa.array(_EVENT_TYPES, pa.string())
        rows = CHUNK_ROWS
        for lo in range(0, max(self.n_events, 1), rows):
            at = self.order[lo : lo + rows]
            item = self.train.item[at]
            ts_ms = np.round(self.train.ts[at] * 1000).astype(np.int64)
            columns = [
                pa.array(self.train.user[at].astype(np.int64) + 1),
                pa.array(self.item_ids[item]),
                self.category_names.take(self.category_codes[item]),
                kinds.take(self.train.kind[at]),
                pa.array(ts_ms, _EVENTS_SCHEMA.field("ts").type),
            ]
            yield pa.Table.from_arrays(columns, schema=_EVENTS_SCHEMA)


def _plan(cfg: DemoShopConfig) -> _Plan:
    rng = np.random.default_rng(cfg.seed)
    rows, hood, department = _catalogue(rng, cfg)
    n = len(rows["item_id"])
    categories = np.asarray(rows["category_id"], dtype=object)
    # Zipf popularity over a random order of products; new arrivals get no views at all.
    rank = rng.permutation(n) + 1
    weight = 1.0 / rank.astype(np.float64) ** cfg.zipf
    new_arrivals = rng.random(n) < 0.02
    weight[new_arrivals] = 0.0
    browser = _Browser(rng, categories, hood, department, weight)
    t0 = datetime.fromisoformat(cfg.start).replace(tzinfo=UTC).timestamp()
    span = cfg.days * 86400.0
    train = _sessions(rng, browser, cfg.n_sessions, cfg.n_users, t0, span, new_arrivals)
    test = _sessions(
        rng, browser, cfg.n_test_sessions, cfg.n_users, t0 + span, 2 * 86400.0, new_arrivals,
        label="test sessions",
    )  # fmt: skip
    item_ids = np.asarray(rows["item_id"], dtype=np.int64)
    products = pa.table(
        {
            "item_id": pa.array(item_ids),
            "category_id": pa.array(rows["category_id"], pa.string()),
            "brand": pa.array(rows["brand"], pa.string()),
            "price": pa.array(rows["price"], pa.float64()),
            "title": pa.array(rows["title"], pa.string()),
            "available": pa.array(rows["available"], pa.bool_()),
        }
    )
    names = sorted(set(rows["category_id"]))
    # Rows in no particular order, like an export (sessionize must sort); seeded all the same.
    order = rng.permutation(len(train))
    return _Plan(
        products=products,
        test_pairs=_test_pairs(test, item_ids),
        neighbourhood=hood,
        department=department,
        config=cfg,
        train=train,
        order=order,
        item_ids=item_ids,
        category_codes=np.searchsorted(np.asarray(names, dtype=object), categories),
        category_names=pa.array(names, pa.string()),
    )


def generate(config: DemoShopConfig | None = None) -> DemoShop:
    """Generate the demo shop in memory (a small one: :func:`write_demo_shop` writes a shop of
    any size with bounded memory)."""
    plan = _plan(config or DemoShopConfig())
    return DemoShop(
        products=plan.products,
        events=pa.concat_tables(plan.event_chunks()),
        test_pairs=plan.test_pairs,
        neighbourhood=plan.neighbourhood,
        department=plan.department,
        config=plan.config,
    )


def _test_pairs(test: _Events, item_ids: np.ndarray) -> pa.Table:
    """Every (prefix -> next item) pair of the test sessions' views, repeats collapsed."""
    views = test.kind == _VIEW
    users, items, ts = test.user[views], test.item[views], test.ts[views]
    order = np.lexsort((ts, users))
    users, items, ts = users[order], items[order], ts[order]
    prefixes: list[list[int]] = []
    targets: list[int] = []
    start = 0
    for end in range(1, len(users) + 1):
        if end < len(users) and users[end] == users[start] and ts[end] - ts[end - 1] <= 1800:
            continue
        seq = [int(i) for i in items[start:end]]
        seq = [x for k, x in enumerate(seq) if k == 0 or x != seq[k - 1]]
        for k in range(1, len(seq)):
            prefixes.append([int(item_ids[x]) for x in seq[:k]])
            targets.append(int(item_ids[seq[k]]))
        start = end
    return pa.table(
        {
            "prefix": pa.array(prefixes, pa.list_(pa.int64())),
            "target": pa.array(targets, pa.int64()),
        }
    )


@dataclass(frozen=True)
class WrittenDemoShop:
    """What :func:`write_demo_shop` wrote: the products and test pairs, and the events file's
    Parquet metadata (``events.num_rows``; the events themselves are not kept in memory)."""

    products: pa.Table
    events: pq.FileMetaData
    test_pairs: pa.Table
    config: DemoShopConfig


def write_demo_shop(
    out_dir: str | os.PathLike = DEFAULT_DIR, config: DemoShopConfig | None = None
) -> WrittenDemoShop:
    """Generate the shop and write events/products/test pairs as Parquet into ``out_dir``.

    The events are written one row group at a time, so memory stays bounded by the compact
    columns (about 25 bytes an event: 1.5 GB for 60M events) whatever the shop's size; the
    files are the same, byte for byte, as writing each table at once.

    Files are written under temporary names and renamed, so an interrupted run never leaves
    a partial ``events.parquet`` that a later ``train`` would take as complete.
    """
    plan = _plan(config or DemoShopConfig())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in ((PRODUCTS_FILE, plan.products), (TEST_PAIRS_FILE, plan.test_pairs)):
        tmp = out / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, out / name)
    tmp = out / f".{EVENTS_FILE}.tmp"  # last: its presence means the shop is complete
    bar = progress(total=plan.n_events, desc="demo shop, writing events", unit="event")
    with pq.ParquetWriter(tmp, _EVENTS_SCHEMA) as writer:
        for chunk in plan.event_chunks():
            writer.write_table(chunk, row_group_size=CHUNK_ROWS)
            bar.update(chunk.num_rows)
    bar.close()
    os.replace(tmp, out / EVENTS_FILE)
    info = {
        "config": asdict(plan.config),
        "products": plan.products.num_rows,
        "events": plan.n_events,
        "test_pairs": plan.test_pairs.num_rows,
        "columns": "user_id, item_id, category_id, event_type, ts (no session id)",
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    log.info(
        "demo shop: %d products, %d events, %d test pairs -> %s",
        plan.products.num_rows, plan.n_events, plan.test_pairs.num_rows, out,
    )  # fmt: skip
    return WrittenDemoShop(
        plan.products, pq.read_metadata(out / EVENTS_FILE), plan.test_pairs, plan.config
    )


def demo_shop_exists(out_dir: str | os.PathLike = DEFAULT_DIR) -> bool:
    """``out_dir`` holds a complete demo shop (events, products and test pairs)."""
    out = Path(out_dir)
    return all((out / f).is_file() for f in (EVENTS_FILE, PRODUCTS_FILE, TEST_PAIRS_FILE))


def is_demo_shop_dir(path: str | os.PathLike) -> bool:
    """``path`` is a folder that :func:`write_demo_shop` wrote into (it has the info file)."""
    return (Path(path) / INFO_FILE).is_file()
