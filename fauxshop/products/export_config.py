"""What `fauxshop export-products` writes and what a shop needs that a product does not say.

Light on purpose (no torch, no Pillow), so the CLI builds `--help` without the exporters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from fauxshop.config_args import help_field
from fauxshop.errors import FauxshopError

EXPORT_FORMATS = ("shopify", "merchant", "hf")
STUDIO = "studio"  # the export SOURCE naming the products the studio saved in the workspace
GENDERS = ("male", "female", "unisex")  # Merchant Center's values
AGE_GROUPS = ("newborn", "infant", "toddler", "kids", "adult")


@dataclass(frozen=True)
class ShopOptions:
    """The shop's side of a Shopify or Merchant export; mapped onto export-products flags."""

    vendor: str = help_field("Shopify Vendor and Merchant brand", "fauxshop")
    price: str = help_field("price of every product (a composed product has none)", "0.00")
    currency: str = help_field("ISO 4217 currency of the Merchant price", "USD")
    base_url: str | None = help_field(
        "URL the exported images/ folder will be served from (None: relative paths)", None
    )
    shop_url: str | None = help_field(
        "the shop's address: Merchant links are SHOP_URL/products/HANDLE (None: no link)", None
    )
    gender: str | None = help_field(f"Merchant gender: {', '.join(GENDERS)}", None)
    age_group: str | None = help_field(f"Merchant age_group: {', '.join(AGE_GROUPS)}", None)

    def __post_init__(self) -> None:
        try:
            price = Decimal(self.price)
        except InvalidOperation:
            price = Decimal(-1)
        if not price.is_finite() or price < 0:
            raise FauxshopError(f"export: price {self.price!r} is not an amount like 19.99")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise FauxshopError(f"export: currency {self.currency!r} is not a code like EUR")
        if self.shop_url and not self.shop_url.startswith(("http://", "https://")):
            raise FauxshopError(f"export: shop URL {self.shop_url!r} is not http(s)")
        if self.gender not in (None, *GENDERS) or self.age_group not in (None, *AGE_GROUPS):
            raise FauxshopError(
                f"export: gender one of {', '.join(GENDERS)}; age group one of "
                f"{', '.join(AGE_GROUPS)}"
            )

    def image_ref(self, relative: str) -> str:
        """How the feed names an image: its path in the export, or its URL under base_url."""
        return f"{self.base_url.rstrip('/')}/{relative}" if self.base_url else relative
