"""Design verbs: design (a shopper's words -> matching products, checked, stored, gallery)."""

from __future__ import annotations

from pathlib import Path

from fauxshop.cli.common import model_flags, verb
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.design.config import DesignConfig
from fauxshop.products.config import ComposeConfig
from fauxshop.workspace import Workspace

# The composer's fields design sets itself (the request's category, the method's seeds).
COMPOSE_SKIP = ("n", "category", "psi", "seed_start", "max_candidates")


def cmd_design(args) -> int:
    """products from a shopper's words: parse the request, find matching photos, write, check

    fauxshop design "red long-sleeved striped jumpsuit" --n 8 --method reject
    """
    from fauxshop.design.request import parse_request
    from fauxshop.design.run import design_products, format_summary, slug
    from fauxshop.products.export import save_products
    from fauxshop.products.models import choose_real_archive, open_generator, product_models

    config = dataclass_from_args(DesignConfig, args)
    ws = Workspace.open(args.workdir)
    generator = open_generator(args.generator)
    real, why = choose_real_archive(ws, args.real, generator)
    print(f"real catalog: {real} ({why})")
    models = product_models(real, generator, args.tagger, args.writer)
    request = parse_request(args.request, models.text_tagger)
    checks = dataclass_from_args(ComposeConfig, args)
    result, designed = design_products(models, request, config, checks)
    first, last = result.seeds
    name = f"{slug(request.text)}-{config.method}-seeds-{first}-{last}"
    paths = save_products(result, models.real, args.out or ws.exports_dir / "design" / name,
                          ws.db_path)  # fmt: skip
    print(format_summary(request, result, designed))
    print(f"gallery: {paths['html']}\nrecords: {paths['jsonl']}, {paths['csv']}")
    return 0 if result.accepted else 1


def register(sub, common) -> None:
    p = verb(sub, cmd_design, common)
    p.add_argument("request", help="what the shopper asks for, e.g. 'red striped midi dress'")
    model_flags(p)
    p.add_argument("--out", type=Path, help="folder (default: WORKDIR/exports/design/REQUEST-…)")
    add_dataclass_args(p, DesignConfig, "design")
    add_dataclass_args(p, ComposeConfig, "checks", skip=COMPOSE_SKIP)
