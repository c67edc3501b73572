"""The merchant catalogue: who customers buy from, how much, and how often.

Amounts are drawn from a log-normal around each category's typical ticket
(in cents); frequencies are expected purchases per customer per day (about $1,200 a
month for a typical customer, near the US average card spend), shaped
by weekday and month-end patterns in ``spend_multiplier``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    mcc: str
    typical_cents: int
    spread: float  # sigma of the log-normal
    per_day: float  # expected purchases per customer per day
    weekend_factor: float = 1.0
    tipping: bool = False
    subscription: bool = False


@dataclass(frozen=True)
class Merchant:
    name: str
    category: Category
    country: str = "US"
    # Subscriptions charge the same amount every month.
    fixed_cents: int | None = None


CATEGORIES = {
    c.name: c
    for c in (
        Category("groceries", "5411", 6_500, 0.6, 0.225, 1.3),
        Category("fuel", "5541", 4_800, 0.35, 0.09, 1.1),
        Category("restaurants", "5812", 3_800, 0.55, 0.14, 1.6, tipping=True),
        Category("fast_food", "5814", 1_250, 0.4, 0.15, 1.2, tipping=True),
        Category("bars", "5813", 2_900, 0.5, 0.03, 2.2, tipping=True),
        Category("taxis", "4121", 2_300, 0.5, 0.04, 1.4, tipping=True),
        Category("airlines", "4511", 34_000, 0.5, 0.003, 1.0),
        Category("lodging", "7011", 21_000, 0.5, 0.004, 1.2),
        Category("online_retail", "5942", 3_900, 0.8, 0.08, 1.1),
        Category("department_stores", "5311", 8_900, 0.7, 0.03, 1.5),
        Category("electronics", "5732", 18_000, 0.9, 0.0075, 1.3),
        Category("pharmacy", "5912", 2_400, 0.6, 0.035, 0.9),
        Category("utilities", "4900", 11_000, 0.3, 0.0, 1.0, subscription=True),
        Category("subscriptions", "5968", 1_499, 0.0, 0.0, 1.0, subscription=True),
        Category("telecom", "4814", 6_500, 0.2, 0.0, 1.0, subscription=True),
        Category("entertainment", "7832", 2_600, 0.4, 0.025, 2.0),
        Category("home_improvement", "5200", 9_500, 0.8, 0.015, 1.7),
        Category("healthcare", "8011", 12_000, 0.6, 0.005, 0.3),
    )
}

_MERCHANTS: list[tuple[str, str, int | None]] = [
    ("Green Basket Market", "groceries", None),
    ("Harbor Fresh Foods", "groceries", None),
    ("Sunrise Grocers", "groceries", None),
    ("Maple Street Co-op", "groceries", None),
    ("ValueMart Supercenter", "groceries", None),
    ("QuickFuel", "fuel", None),
    ("Blue Ridge Gas", "fuel", None),
    ("Interstate Petro", "fuel", None),
    ("Trattoria Bella", "restaurants", None),
    ("The Copper Kettle", "restaurants", None),
    ("Saffron House", "restaurants", None),
    ("Harborview Grill", "restaurants", None),
    ("Noodle Bar 88", "restaurants", None),
    ("Burger Shack", "fast_food", None),
    ("Taco Loco", "fast_food", None),
    ("Daily Grind Coffee", "fast_food", None),
    ("The Tipsy Fox", "bars", None),
    ("Hopscotch Taproom", "bars", None),
    ("CityCab", "taxis", None),
    ("MetroRide", "taxis", None),
    ("SkyWest Air", "airlines", None),
    ("Atlantic Airways", "airlines", None),
    ("Lakeside Inn", "lodging", None),
    ("Grand Plaza Hotel", "lodging", None),
    ("ShopSphere", "online_retail", None),
    ("Parcelry", "online_retail", None),
    ("PageTurner Books", "online_retail", None),
    ("Crafted Goods Online", "online_retail", None),
    ("Hudson & Pine", "department_stores", None),
    ("Kingsley's", "department_stores", None),
    ("Volt Electronics", "electronics", None),
    ("Pixel Depot", "electronics", None),
    ("CareWell Pharmacy", "pharmacy", None),
    ("Corner Drug", "pharmacy", None),
    ("Metro Power & Light", "utilities", None),
    ("Clearwater Utilities", "utilities", None),
    ("StreamFlix", "subscriptions", 1_549),
    ("Tuneful Music", "subscriptions", 1_099),
    ("CloudBox Storage", "subscriptions", 299),
    ("Daily Ledger News", "subscriptions", 1_700),
    ("FitLife Gym", "subscriptions", 4_999),
    ("Nimbus Mobile", "telecom", 6_500),
    ("FiberNet Home", "telecom", 7_999),
    ("Starlight Cinemas", "entertainment", None),
    ("Arcadia Bowling", "entertainment", None),
    ("Summit Hardware", "home_improvement", None),
    ("BuildRight Supply", "home_improvement", None),
    ("Riverside Clinic", "healthcare", None),
    ("BrightSmile Dental", "healthcare", None),
    ("Evergreen Garden Center", "home_improvement", None),
    ("Lantern Books & Cafe", "fast_food", None),
    ("Coastal Seafood Co", "restaurants", None),
]

MERCHANTS: list[Merchant] = [
    Merchant(name, CATEGORIES[category], fixed_cents=fixed) for name, category, fixed in _MERCHANTS
]
FOREIGN_MERCHANTS: list[Merchant] = [
    Merchant("Café de la Gare", CATEGORIES["restaurants"], country="FR"),
    Merchant("Berliner Buchhandlung", CATEGORIES["online_retail"], country="DE"),
    Merchant("Tokyo Denki", CATEGORIES["electronics"], country="JP"),
]
SUBSCRIPTION_MERCHANTS = [m for m in MERCHANTS if m.category.subscription]
BY_CATEGORY: dict[str, list[Merchant]] = {}
for _merchant in MERCHANTS:
    BY_CATEGORY.setdefault(_merchant.category.name, []).append(_merchant)


def spend_multiplier(weekday: int, day_of_month: int, days_in_month: int) -> float:
    """More spending at weekends and in the days after month-end paydays."""
    multiplier = 1.0
    if weekday >= 5:
        multiplier *= 1.15
    if day_of_month <= 3 or day_of_month >= days_in_month - 1:
        multiplier *= 1.2
    return multiplier


def draw_amount(rng: random.Random, merchant: Merchant, appetite: float) -> int:
    if merchant.fixed_cents is not None:
        return merchant.fixed_cents
    category = merchant.category
    cents = category.typical_cents * appetite * math.exp(rng.gauss(0, category.spread))
    return max(100, round(cents))


def tip_amount(rng: random.Random, amount: int) -> int:
    """Restaurants and taxis clear above the hold: a tip of 10 to 20 %."""
    return amount + amount * rng.randint(10, 20) // 100
