"""`fauxshop serve`: the "This Dress Doesn't Exist" page and an editing studio, over an HTTP API.

The app holds one set of models (generator, tagger with its text branch, writer, the real
catalog's features) loaded at start, and answers with PNGs and JSON:

    GET  /api/generate?seed=&psi=&cls=              a photo
    GET  /api/product[?seed=]                       a composed product (title, text, tags, nearest);
                                                    without a seed, the next one from the pool
    POST /api/edit      {seed|latent, psi, cls, strengths: {direction: value}}   a photo
    GET  /api/mix?row=&col=&styles=coarse           a style mix of two seeds
    POST /api/project   (upload)                    a projected photo's latent id and PSNR
    GET  /api/latent/{id}.png                       its reconstruction
    POST /api/similar   {seed|latent, k}            the k nearest real products
    GET  /api/real/{sku}.png                        a real product's photo
    POST /api/save      {seed, psi, cls}            compose and store a product
    POST /api/design    {request, n, method}        products matching a shopper's words, with
                                                    their photos inline, tags and descriptions
    GET  /api/directions                            the sliders, each with its range
    GET  /docs                                      the API's Swagger UI, from local files

Every bad request gets a 4xx whose JSON `detail` is one line saying why: numbers are finite and
in range, whole numbers plain digits, request bodies capped (413), an upload's format read
from its bytes (PNG, JPEG, WebP; its declared type is not trusted) and its pixels capped; an
edit's strengths must lie in its slider's range. No request names a file: latents are addressed
by ids the server made (the latest MAX_LATENTS kept), real photos by skus of the catalog it
loaded, so nothing outside the workspace can be reached.

What outlives a request lives in the workspace's store, not in a process: projected latents,
saved products and the home page's pool of products composed ahead (fauxshop/web/pool.py). So
an id works on any worker serving the workspace, and after a restart.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import re
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import numpy as np
import torch
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from fauxshop.catalog.images import ImageProblem, inspect_image
from fauxshop.catalog.store import Store
from fauxshop.design.config import METHODS, DesignConfig
from fauxshop.design.methods import Bank
from fauxshop.design.request import MAX_CHARS, parse_request
from fauxshop.design.run import design_products
from fauxshop.errors import FauxshopError
from fauxshop.latent.config import ProjectConfig
from fauxshop.latent.directions import Direction
from fauxshop.latent.edit import edit_ws
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.mixing import parse_styles, style_mix_grid
from fauxshop.latent.projection import project, render_projection
from fauxshop.latent.sampling import class_index
from fauxshop.pixels import png_bytes, save_png
from fauxshop.products.compose import BATCH, STAGES, Candidate, compose_batch, compose_one
from fauxshop.products.config import ComposeConfig
from fauxshop.products.models import ProductModels, slider_range
from fauxshop.tagger.scoring import image_features
from fauxshop.web.pool import refill_pool

STATIC = Path(__file__).parent / "static"
# Swagger UI's files from a pinned package, not a CDN: /docs works offline.
DOCS_ASSETS = {
    n: Path(swagger_ui_path) / n
    for n in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")
# A request body's cap: a photo and its form's envelope, or a JSON source (a few hundred bytes).
MAX_FORM_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
MAX_JSON_BYTES = 64 * 1024
MAX_LATENTS = 256  # projected latents kept, the oldest dropped first
LATENT_MAX_AGE_S = 7 * 24 * 3600.0  # and none older than a week
POOL_SIZE = 32  # products composed ahead for the home page
REFILL_SWITCH_INTERVAL_S = 0.0005
MAX_SEED = 2**31 - 1
MAX_DESIGN_N = 8  # photos one design request may ask for: each costs up to ~2 s
DESIGN_BANK_SAMPLES = 1000  # samples design's centroids and boundaries are learned from
_LATENT_ID = re.compile(r"^[0-9a-f]{32}$")
_DIGITS = re.compile(r"[0-9]{1,12}")


def _whole_number(value: object) -> int:
    """A whole number as a JSON int or a string of at most 12 digits 0-9: pydantic's own int
    takes ' 1 ', '1_000', '1.0' and true, and fails its own way on 5,000 digits."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number")
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in the digits 0-9")
    return int(value)


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Seed = Annotated[WholeNumber, Query(ge=0, le=MAX_SEED, description="the photo's seed")]
Psi = Annotated[float, Query(ge=0, le=2, allow_inf_nan=False, description="truncation psi")]
Cls = Annotated[str | None, Query(max_length=64, description="class name or index")]


class Source(BaseModel):
    """A photo to work on: a seed (with psi and class), or a projected photo's latent id."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seed: WholeNumber = Field(0, ge=0, le=MAX_SEED)
    psi: float = Field(0.7, ge=0, le=2)
    cls: str | None = Field(None, max_length=64)
    latent: str | None = Field(None, pattern=_LATENT_ID.pattern)


class EditRequest(Source):
    strengths: dict[str, float] = Field(default_factory=dict, examples=[{"colour:red": 2.0}])


class SimilarRequest(Source):
    k: WholeNumber = Field(5, ge=1, le=50)


class DesignRequest(BaseModel):
    """A shopper's words, how many photos, and the method that finds them."""

    model_config = ConfigDict(extra="forbid")

    request: str = Field(min_length=1, max_length=MAX_CHARS,
                         examples=["red long-sleeved striped jumpsuit"])  # fmt: skip
    n: WholeNumber = Field(4, ge=1, le=MAX_DESIGN_N)
    method: str = Field("reject", pattern="^(" + "|".join(METHODS) + ")$")


@dataclass
class Studio:
    """What the app serves from: the models, the sliders, and the workspace whose store keeps
    projected latents (the latest `max_latents`, none older than `latent_max_age_s`) and the
    home page's pool of `pool_size` products."""

    models: ProductModels
    directions: list[Direction]
    workdir: Path
    project_steps: int = 100
    max_latents: int = MAX_LATENTS
    latent_max_age_s: float = LATENT_MAX_AGE_S
    pool_size: int = POOL_SIZE
    pool_poll_s: float = 0.5  # how often a full pool is looked at again
    design_bank_samples: int = DESIGN_BANK_SAMPLES

    def __post_init__(self) -> None:
        (self.workdir / "uploads").mkdir(parents=True, exist_ok=True)
        self._bank: Bank | None = None
        self._bank_lock = threading.Lock()

    def design_bank(self) -> Bank:
        """The samples steer and optimise learn from, made by the first request needing them."""
        with self._bank_lock:
            if self._bank is None:
                self._bank = Bank(self.models.G, self.models.tagger, self.design_bank_samples)
            return self._bank

    @property
    def models_key(self) -> str:
        """What a pooled product was made with: another generator's products are not served."""
        return json.dumps({**self.models.hashes, "real": self.models.real_archive}, sort_keys=True)

    def store(self) -> Store:
        return Store(self.workdir / "catalog.db")

    def keep_latent(self, ws: torch.Tensor, noise: dict) -> str:
        """Keep a projection under a new id in the store, where every worker and the next
        start find it."""
        latent = uuid.uuid4().hex
        tensors = {"ws": ws, **{f"noise.{k}": v for k, v in noise.items()}}
        data = save_tensors({k: v.contiguous() for k, v in tensors.items()})
        with self.store() as store:
            store.keep_latent(latent, data, self.max_latents, self.latent_max_age_s)
        return latent

    def latent(self, latent: str) -> tuple[torch.Tensor, dict] | None:
        """A kept projection's ws and noise, None if unknown or expired."""
        with self.store() as store:
            data = store.latent(latent, self.latent_max_age_s)
        if data is None:
            return None
        tensors = load_tensors(data)
        noise = {k.removeprefix("noise."): v for k, v in tensors.items() if k != "ws"}
        return tensors["ws"], noise


def save_product(workdir: Path, candidate: Candidate) -> dict:
    """Keep a composed product: its photo in WORKDIR/exports/studio, its record in the store
    (each save its own write transaction, so concurrent workers' saves all land)."""
    record = candidate.record
    path = workdir / "exports" / "studio" / f"{record['sku']}.png"
    record["image_path"] = str(save_png(candidate.image, path))
    with Store(workdir / "catalog.db") as store:
        store.save_generated([record])
    return {"sku": record["sku"], "status": record["status"], "title": record["title"]}


def png(image: np.ndarray) -> Response:
    return Response(png_bytes(image), media_type="image/png")


class BodyLimit:
    """Refuses a request body over its cap (MAX_FORM_BYTES for a multipart form, MAX_JSON_BYTES
    for anything else) with a 413 before reading it, by its Content-Length; the HTTP server
    then never passes on more than that length. A body without one (chunked) gets a 411: its
    size is known only once read, and a file's sender reads on after its route has answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        form = headers.get("content-type", "").lower().startswith("multipart/")
        limit = MAX_FORM_BYTES if form else MAX_JSON_BYTES
        declared = headers.get("content-length")  # digits: the HTTP server checks
        if declared is None and "transfer-encoding" in headers:
            refusal = JSONResponse({"detail": "send the request body with a Content-Length"}, 411)
        elif declared is not None and (len(declared) > len(str(limit)) or int(declared) > limit):
            refusal = JSONResponse({"detail": f"request body larger than {limit // 1024} KiB"}, 413)
        else:
            return await self.app(scope, receive, send)
        await refusal(scope, receive, send)


async def refuse_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    """A 422 whose detail is one line, 'where: why' per problem, without the input FastAPI
    would echo: it may be NaN (which JSON cannot encode), undecodable bytes, or megabytes."""
    reasons = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    return JSONResponse({"detail": "; ".join(reasons)}, 422)


def create_app(studio: Studio, refill: bool = False) -> FastAPI:
    """The app; with `refill`, it keeps the home page's pool filled while it runs."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        stop = threading.Event()
        thread = threading.Thread(target=refill_pool, args=(studio, pooled, stop), daemon=True)
        if refill:
            # The refill's Python (the writer's sampling loop) holds the GIL for a switch
            # interval (5 ms by default) each time a request's thread wants it back, which a
            # request does after each socket and SQLite call: shorter turns keep visits quick.
            sys.setswitchinterval(REFILL_SWITCH_INTERVAL_S)
            thread.start()
        yield
        stop.set()
        if refill:  # a compose cut off by the interpreter's exit aborts the process
            thread.join()

    app = FastAPI(
        lifespan=lifespan,
        title="fauxshop studio",
        description="Products that don't exist: generate, edit, mix, project, find similar.",
        version="1",
        docs_url=None,  # its default page loads Swagger UI from a CDN; see /docs below
        redoc_url=None,
    )
    models, G = studio.models, studio.models.G
    names = models.label_names or []
    real_index = {sku: i for i, sku in enumerate(models.real.skus)}
    static_files = {p.name: p for p in STATIC.iterdir() if p.suffix in (".css", ".js")}
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, refuse_invalid)

    def cls_of(cls: str | None) -> int | None:
        if not G.c_dim:
            return None
        key = (cls or (names[0] if names else "0")).strip()
        if key.isdigit() and not _DIGITS.fullmatch(key):  # '²' is a digit int() refuses
            raise HTTPException(422, f"class index {cls!r}: write it in the digits 0-9, at most 12")
        try:
            return class_index(G, key, names)
        except FauxshopError as e:
            raise HTTPException(422, str(e)) from None

    def ws_of(source: Source) -> tuple[torch.Tensor, dict | None]:
        """A seed's ws, or a projected latent's ws and noise."""
        if source.latent is not None:
            kept = studio.latent(source.latent)
            if kept is None:
                raise HTTPException(404, "no such latent; project a photo first")
            ws, noise = kept
            return ws[None], noise
        return seeds_to_ws(G, [source.seed], source.psi, cls_of(source.cls)), None

    def composed(seed: int, psi: float, cls: str | None) -> Candidate:
        """One product through the composer's stages (short descriptions: a page waits)."""
        config = ComposeConfig(psi=psi, max_new_tokens=120)
        return compose_one(models, config, seed, cls_of(cls), dict.fromkeys(STAGES, 0.0))

    def render(ws: torch.Tensor, noise: dict | None) -> np.ndarray:
        return render_projection(G, ws[0], noise) if noise else render_ws(G, ws)[0]

    async def read_upload(upload: UploadFile) -> np.ndarray:
        """The photo as RGB, its format read from its bytes (the declared type is the client's
        say-so: a GIF may come as image/png)."""
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"photo larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
        path = studio.workdir / "uploads" / f"{uuid.uuid4().hex}.img"
        path.write_bytes(data)
        try:
            info = inspect_image(path, MAX_UPLOAD_PIXELS)
            if info.format not in UPLOAD_FORMATS:
                raise HTTPException(415, f"upload a PNG, JPEG or WebP photo, not {info.format}")
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        except ImageProblem as e:
            detail = e.detail.split(": ")[-1]
            raise HTTPException(422, f"not a usable photo: {e.reason} ({detail})") from None
        finally:
            path.unlink(missing_ok=True)

    @app.get("/api/generate", response_class=Response, summary="A generated photo (PNG)")
    def generate_photo(seed: Seed = 0, psi: Psi = 0.7, cls: Cls = None) -> Response:
        return png(render(*ws_of(Source(seed=seed, psi=psi, cls=cls))))

    def answer(seed: int, psi: float, cls: str | None, record: dict | None = None) -> dict:
        """The API's view of the product of (seed, psi, cls), composed now unless given."""
        record = record or composed(seed, psi, cls).record
        return {
            **{k: record[k] for k in ("sku", "title", "description", "category", "attributes",
                                      "status", "checks", "nearest_sku")},
            "seed": seed, "psi": psi,
            "image": f"/api/generate?seed={seed}&psi={psi}" + (f"&cls={quote(cls)}" if cls else ""),
            "nearest_image": f"/api/real/{record['nearest_sku']}.png",
        }  # fmt: skip

    def pooled() -> list[dict]:
        """Products for the pool: a batch of random seeds (the composer's cost is per batch,
        and each is the same bits as its seed alone), those that passed their checks."""
        seeds = [random.randint(0, MAX_SEED) for _ in range(BATCH)]
        config = ComposeConfig(psi=0.7, max_new_tokens=120)
        jobs = [(seed, cls_of(None)) for seed in seeds]
        made = compose_batch(models, config, jobs, dict.fromkeys(STAGES, 0.0))
        return [answer(seed, 0.7, None, c.record) for seed, c in zip(seeds, made, strict=True)
                if c.record["status"] == "accepted"]  # fmt: skip

    @app.get("/api/product", summary="A composed product that doesn't exist")
    def product(
        seed: Annotated[WholeNumber | None, Query(ge=0, le=MAX_SEED,
                        description="the photo's seed; none: the next pooled product")] = None,
        psi: Psi = 0.7, cls: Cls = None,
    ) -> dict:  # fmt: skip
        if seed is None:
            with studio.store() as store:
                product = store.pool_take(studio.models_key)
            return product or answer(random.randint(0, MAX_SEED), psi, cls)
        return answer(seed, psi, cls)

    ranges = {d.name: slider_range(d.name) for d in studio.directions}

    @app.get("/api/directions", summary="The attribute sliders and how far each goes")
    def directions() -> list[dict]:
        return [{"name": d.name, "method": d.method, "layers": d.layers, "min": ranges[d.name][0],
                 "max": ranges[d.name][1]} for d in studio.directions]  # fmt: skip

    @app.post("/api/edit", response_class=Response, summary="A photo moved along directions")
    def edit(request: EditRequest) -> Response:
        ws, noise = ws_of(request)
        by_name = {d.name: d for d in studio.directions}
        for name, value in request.strengths.items():
            if name not in by_name:
                raise HTTPException(422, f"no direction {name!r}; see /api/directions")
            low, high = ranges[name]
            if not low <= value <= high:
                raise HTTPException(422, f"strength of {name} must be in {low:g}..{high:g}")
            ws = edit_ws(ws, by_name[name], [value])[:, 0]
        return png(render(ws, noise))

    @app.get("/api/mix", response_class=Response, summary="Style mix of two seeds")
    def mix(row: Seed = 0, col: Seed = 1, styles: str = "coarse", psi: Psi = 0.7,
            cls: Cls = None) -> Response:  # fmt: skip
        if styles not in ("coarse", "middle", "fine"):
            raise HTTPException(422, "styles must be coarse, middle or fine")
        try:
            layers = parse_styles(styles, G.num_ws, G.img_resolution)
        except Exception as e:  # a small G may lack fine styles
            raise HTTPException(422, str(e)) from e
        grid = style_mix_grid(G, [row], [col], layers, psi, cls_of(cls))
        h, w = G.img_resolution
        return png(grid[h:, w:])  # the mixed cell alone

    @app.post("/api/project", summary="Project an uploaded photo into the latent space")
    async def project_photo(photo: Annotated[UploadFile, File()]) -> dict:
        target = await read_upload(photo)
        config = ProjectConfig(steps=studio.project_steps, features="none", video_every=0,
                               w_avg_samples=2000)  # fmt: skip
        result = project(G, target, config, None, cls_of(None))
        noise = {k: torch.from_numpy(v) for k, v in result.noise.items()}
        latent = studio.keep_latent(torch.from_numpy(result.ws), noise)
        return {"latent": latent, "psnr": result.psnr, "ssim": result.ssim,
                "image": f"/api/latent/{latent}.png"}  # fmt: skip

    @app.get("/api/latent/{latent}.png", response_class=Response, summary="A projection")
    def latent_png(latent: str) -> Response:
        kept = studio.latent(latent) if _LATENT_ID.fullmatch(latent) else None
        if kept is None:
            raise HTTPException(404, "no such latent")
        ws, noise = kept
        return png(render_projection(G, ws, noise))

    @app.post("/api/similar", summary="The k most similar real products")
    def similar(request: SimilarRequest) -> list[dict]:
        image = render(*ws_of(request))
        features = image_features(models.tagger, image[None])[0]
        skus = models.real.skus
        return [{"sku": skus[i], "distance": round(d, 4), "image": f"/api/real/{skus[i]}.png"}
                for i, d in models.real.nearest(features, request.k)]  # fmt: skip

    @app.get("/api/real/{sku}.png", response_class=Response, summary="A real product's photo")
    def real_png(sku: str) -> Response:
        index = real_index.get(sku)
        if index is None:
            raise HTTPException(404, f"no real product {sku!r}")
        if models.real.images is None:
            raise HTTPException(404, "this catalog was loaded without photos")
        return png(models.real.images[index])

    @app.post("/api/save", summary="Compose a product and keep it in the store")
    def save(request: Source) -> dict:
        if request.latent is not None:
            raise HTTPException(422, "save takes a seed: a projected photo is not a new product")
        return save_product(studio.workdir, composed(request.seed, request.psi, request.cls))

    @app.post("/api/design", summary="Products matching a shopper's words")
    def design(request: DesignRequest) -> dict:
        try:
            asked = parse_request(request.request, models.text_tagger)
            config = DesignConfig(n=request.n, method=request.method)
            bank = None if config.method == "reject" else studio.design_bank()
            result, designed = design_products(
                models, asked, config, ComposeConfig(max_new_tokens=120), bank
            )
        except FauxshopError as e:
            raise HTTPException(422, str(e).removeprefix("design: ")) from None
        products = []
        for c in result.candidates:
            r = c.record
            image = base64.b64encode(png_bytes(c.image)).decode()
            products.append({
                **{k: r[k] for k in ("sku", "title", "description", "status", "checks")},
                "asked": asked.targets, "tags": r["provenance"]["detected"],
                "matches": r["checks"]["matches_request"]["passed"],
                "image": f"data:image/png;base64,{image}",
            })  # fmt: skip
        return {
            "request": {"text": asked.text, "targets": asked.targets, "unknown": asked.unknown,
                        "category_source": asked.category_source},
            "method": config.method, "seconds": round(designed.seconds, 3),
            "notes": designed.notes, "products": products,
        }  # fmt: skip

    @app.get("/", include_in_schema=False)
    def home() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/studio", include_in_schema=False)
    def studio_page() -> FileResponse:
        return FileResponse(STATIC / "studio.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title}: API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # its badge would call swagger.io
        )  # fmt: skip

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise HTTPException(404, "no such file")
        return FileResponse(DOCS_ASSETS[name])

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in static_files:
            raise HTTPException(404, "no such file")
        return FileResponse(static_files[name])

    return app
