"""Simulated order lines of a foodservice wholesaler, with the behaviour behind them known.

The simulator plants what recovery and growth work must tell apart: real defections and
declines next to look-alikes (seasonal categories, yearly closures, stock-ups, volatile
buyers, one-off buys), and categories that customers start buying after the as-of date.
Everything is drawn from ``numpy`` generators seeded by ``seed``; the same arguments give
the same frames, row for row.

Which categories a customer buys. Each customer has a type (café, school, ...), the coarse
kind an ERP records, and within it a speciality it does not record (``_SPECIALITIES``: an
Italian, Asian or pub kitchen, a fine-dining room; a coffee bar, a brunch or a plant-based
café; a pantry or a staff canteen ...). The type gives a base probability per category and
the speciality replaces it for its signature categories (pasta and wine for the Italian
kitchen, beer, spirits and frozen food for the pub). Around that, every customer has its own
taste: categories come in complementary groups (``_TASTE_GROUPS``: coffee counter = hot
drinks, bakery, dairy; takeaway = cups and boxes, soft drinks, snacks; bar = wine, beer,
spirits; ...), and every customer draws one standard-normal propensity per group. A
category's log-odds for the customer is its speciality's log-odds plus ``_TASTE_STRENGTH``
times the mean propensity of the groups the category belongs to, plus ``_TASTE_NOISE`` of
its own. So two restaurants differ, and their categories move together: a customer buying
two of a group's or a speciality's categories is likely to want the third.

- A customer starts with each category drawn with its own probability (at least one).
- Then, in every half-year of its history after its first two months and in the half-year
  after as-of, it adds with probability ``_ADOPTION_RATE`` exactly one category it does not
  buy, picked with weight equal to its odds p / (1 - p) times the pull of the category's
  group-mates it already buys (``_adopt``): the categories its speciality and taste say it
  lacks, not a uniform draw among its type's categories. The adoptions before as-of are
  what a back-test over the history can learn from; those after it are the truth.
- Its spend share in a category is the category's base share scaled by exp(``_TASTE_SPEND``
  x taste offset), so taste shows in spend as well as in which categories appear.

Longtail sees none of this: only the order lines. Taste and speciality are drawn from
generators of their own (seeded by ``seed``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

logger = logging.getLogger(__name__)

BEHAVIOURS = (
    "defection",
    "decline",
    "seasonal",
    "closed_period",
    "stock_up",
    "volatile",
    "one_off",
    "steady",
)

# Relative ordering intensity by calendar month (January first), peak 1.
_SEASONS: dict[str, tuple[float, ...]] = {
    "flat": (1,) * 12,
    "summer": (0.03, 0.03, 0.1, 0.3, 0.7, 1, 1, 1, 0.6, 0.2, 0.03, 0.03),
    "christmas": (0.02, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.5, 1, 1),
    "winter": (1, 1, 0.8, 0.45, 0.2, 0.05, 0.05, 0.05, 0.25, 0.6, 0.9, 1),
    "mild_winter": (1, 1, 0.95, 0.85, 0.75, 0.65, 0.6, 0.65, 0.8, 0.9, 1, 1),
    "mild_summer": (0.7, 0.7, 0.75, 0.85, 0.95, 1, 1, 1, 0.9, 0.8, 0.75, 0.85),
}

# name, season, base days between orders for a mid-sized account, share of spend, products
_CATEGORIES: tuple[tuple[str, str, float, float, tuple[tuple[str, float], ...]], ...] = (
    (
        "Dairy",
        "flat",
        7,
        1.2,
        (
            ("Whole Milk 2L", 1.85),
            ("Semi-Skimmed Milk 2L", 1.75),
            ("Double Cream 1L", 4.9),
            ("Salted Butter 250g", 2.4),
            ("Mature Cheddar 2.5kg", 21.5),
            ("Greek Yoghurt 1kg", 4.2),
        ),
    ),
    (
        "Bakery",
        "flat",
        7,
        0.9,
        (
            ("Sliced White Loaf 800g", 1.45),
            ("Sourdough Bloomer", 3.2),
            ("Croissants x12", 6.8),
            ("Brioche Buns x6", 3.1),
            ("Panini Rolls x10", 4.4),
        ),
    ),
    (
        "Fresh Produce",
        "flat",
        7,
        1.3,
        (
            ("Iceberg Lettuce x10", 7.5),
            ("Vine Tomatoes 5kg", 11.9),
            ("Brown Onions 10kg", 8.9),
            ("Maris Piper Potatoes 25kg", 14.5),
            ("Lemons x40", 9.6),
            ("Mixed Peppers 5kg", 12.4),
        ),
    ),
    (
        "Meat & Poultry",
        "flat",
        10,
        1.5,
        (
            ("Chicken Breast Fillets 5kg", 34.0),
            ("Beef Mince 15% 5kg", 31.5),
            ("Back Bacon 2.27kg", 17.8),
            ("Pork Sausages x60", 19.9),
            ("Lamb Shoulder 2kg", 27.0),
        ),
    ),
    (
        "Seafood",
        "flat",
        14,
        0.6,
        (
            ("Cod Fillets 2kg", 29.5),
            ("King Prawns 1kg", 16.9),
            ("Smoked Salmon 1kg", 26.0),
            ("Haddock Loins 2kg", 31.0),
        ),
    ),
    (
        "Frozen Foods",
        "flat",
        14,
        0.7,
        (
            ("Frozen Chips 4x2.5kg", 15.6),
            ("Garden Peas 2.5kg", 4.8),
            ("Battered Fish x20", 24.5),
            ("Vegetable Spring Rolls x50", 11.2),
        ),
    ),
    (
        "Ice Cream",
        "summer",
        10,
        0.5,
        (
            ("Vanilla Ice Cream 4L", 8.9),
            ("Strawberry Sorbet 4L", 9.4),
            ("Choc Ices x24", 12.0),
            ("Ice Lollies x40", 14.5),
        ),
    ),
    (
        "Soft Drinks",
        "flat",
        14,
        0.8,
        (
            ("Cola Cans x24", 9.6),
            ("Sparkling Water 24x500ml", 7.2),
            ("Orange Juice 6x1L", 8.4),
            ("Lemonade 12x1.5L", 9.9),
            ("Energy Drink x24", 21.0),
        ),
    ),
    (
        "Hot Drinks",
        "mild_winter",
        21,
        0.7,
        (
            ("Espresso Beans 1kg", 17.5),
            ("Breakfast Tea x1100", 24.0),
            ("Hot Chocolate 2kg", 13.8),
            ("Decaf Instant 500g", 12.5),
        ),
    ),
    (
        "Soups & Stocks",
        "winter",
        21,
        0.4,
        (
            ("Tomato Soup Mix 2kg", 9.8),
            ("Chicken Stock Paste 1kg", 11.5),
            ("Leek & Potato Soup 4L", 12.9),
            ("Gravy Granules 2kg", 8.7),
        ),
    ),
    (
        "Dry Goods",
        "flat",
        21,
        0.8,
        (
            ("Penne Pasta 3kg", 5.4),
            ("Basmati Rice 10kg", 16.5),
            ("Plain Flour 16kg", 11.2),
            ("Chopped Tomatoes 6x2.5kg", 13.4),
            ("Sunflower Oil 20L", 29.0),
        ),
    ),
    (
        "Snacks & Confectionery",
        "flat",
        14,
        0.6,
        (
            ("Ready Salted Crisps x48", 13.9),
            ("Milk Chocolate Bars x48", 24.0),
            ("Flapjacks x24", 14.4),
            ("Shortbread Fingers x100", 16.8),
        ),
    ),
    (
        "Christmas Goods",
        "christmas",
        14,
        0.3,
        (
            ("Mince Pies x48", 17.6),
            ("Christmas Crackers x100", 39.0),
            ("Christmas Pudding 2kg", 15.5),
            ("Festive Napkins x500", 11.9),
        ),
    ),
    (
        "BBQ & Outdoor",
        "summer",
        14,
        0.3,
        (
            ("Charcoal 10kg", 12.5),
            ("Burger Patties x48", 26.0),
            ("Disposable BBQ x12", 18.0),
            ("Corn Cobs x24", 10.8),
        ),
    ),
    (
        "Cleaning & Hygiene",
        "flat",
        30,
        0.4,
        (
            ("Washing-Up Liquid 5L", 6.9),
            ("Antibacterial Spray x6", 9.5),
            ("Blue Roll x6", 12.9),
            ("Nitrile Gloves x1000", 29.0),
            ("Dishwasher Detergent 10L", 21.5),
        ),
    ),
    (
        "Paper & Disposables",
        "flat",
        30,
        0.5,
        (
            ("Takeaway Cups 12oz x1000", 46.0),
            ("Paper Napkins x2000", 14.8),
            ("Kraft Food Boxes x250", 31.0),
            ("Wooden Cutlery x1000", 22.5),
        ),
    ),
    (
        "Kitchen Equipment",
        "flat",
        75,
        0.15,
        (
            ("Chef Knife 25cm", 34.0),
            ("Gastronorm Pan 1/1", 27.5),
            ("Chopping Board Set", 39.0),
            ("Non-Stick Frying Pan 28cm", 29.5),
        ),
    ),
    (
        "Heating Fuel",
        "winter",
        30,
        0.3,
        (
            ("Patio Heater Gas 13kg", 38.0),
            ("Heating Oil 200L", 145.0),
            ("Kiln-Dried Logs 1m3", 119.0),
        ),
    ),
    (
        "Pasta & Italian",
        "flat",
        14,
        0.6,
        (
            ("Fresh Tagliatelle 1kg", 6.2),
            ("Passata 6x1kg", 9.8),
            ("Parmigiano Reggiano 1kg", 18.5),
            ("Mozzarella Fior di Latte 2kg", 14.9),
            ("Pesto Genovese 1kg", 12.4),
        ),
    ),
    (
        "World Foods & Spices",
        "flat",
        21,
        0.5,
        (
            ("Garam Masala 1kg", 11.5),
            ("Coconut Milk 6x400ml", 8.9),
            ("Light Soy Sauce 5L", 10.9),
            ("Jasmine Rice 10kg", 17.5),
            ("Tortilla Wraps x72", 13.2),
        ),
    ),
    (
        "Wine",
        "flat",
        21,
        0.9,
        (
            ("House Red 6x75cl", 34.0),
            ("House White 6x75cl", 33.0),
            ("Prosecco 6x75cl", 45.0),
            ("Rosé 6x75cl", 36.0),
        ),
    ),
    (
        "Beer & Cider",
        "mild_summer",
        10,
        0.8,
        (
            ("Bottled Lager x24", 26.0),
            ("Pale Ale x12", 24.0),
            ("Apple Cider x24", 27.5),
            ("Alcohol-Free Lager x24", 19.0),
        ),
    ),
    (
        "Spirits & Mixers",
        "flat",
        30,
        0.4,
        (
            ("London Dry Gin 70cl", 17.5),
            ("Vodka 70cl", 15.0),
            ("Tonic Water x24", 11.0),
            ("Blended Whisky 70cl", 22.0),
        ),
    ),
    (
        "Patisserie & Desserts",
        "flat",
        14,
        0.5,
        (
            ("Chocolate Brownie Tray", 15.5),
            ("Lemon Tart x12", 16.0),
            ("Baked Cheesecake x14", 18.5),
            ("Macarons x48", 21.0),
        ),
    ),
    (
        "Breakfast & Spreads",
        "flat",
        21,
        0.4,
        (
            ("Cornflakes 4x500g", 9.0),
            ("Porridge Oats 3kg", 6.5),
            ("Strawberry Jam Portions x100", 8.5),
            ("Marmalade Portions x100", 8.9),
            ("Honey Portions x100", 10.5),
        ),
    ),
    (
        "Vegan & Free-From",
        "flat",
        21,
        0.4,
        (
            ("Oat Drink 6x1L", 11.5),
            ("Plant-Based Burgers x24", 28.0),
            ("Gluten-Free Loaf x6", 14.0),
            ("Firm Tofu 2kg", 9.5),
        ),
    ),
    (
        "Tableware & Linen",
        "flat",
        90,
        0.15,
        (
            ("White Dinner Plates x12", 36.0),
            ("Wine Glasses x24", 29.0),
            ("Linen Napkins x50", 42.0),
            ("Cutlery Set x48", 38.0),
        ),
    ),
)
CATEGORY_NAMES = tuple(c[0] for c in _CATEGORIES)

# Probability that a customer of a type buys each category (categories not named: 0.05).
_TYPE_MIX: dict[str, tuple[float, str, dict[str, float]]] = {
    "cafe": (
        0.22,
        "Hospitality",
        {
            "Dairy": 0.95,
            "Bakery": 0.9,
            "Hot Drinks": 0.95,
            "Soft Drinks": 0.8,
            "Snacks & Confectionery": 0.7,
            "Paper & Disposables": 0.9,
            "Cleaning & Hygiene": 0.6,
            "Ice Cream": 0.5,
            "Christmas Goods": 0.3,
            "Fresh Produce": 0.5,
            "Frozen Foods": 0.3,
        },
    ),
    "restaurant": (
        0.25,
        "Hospitality",
        {
            "Fresh Produce": 0.95,
            "Meat & Poultry": 0.9,
            "Seafood": 0.6,
            "Dairy": 0.9,
            "Dry Goods": 0.9,
            "Frozen Foods": 0.6,
            "Soft Drinks": 0.7,
            "Cleaning & Hygiene": 0.8,
            "Paper & Disposables": 0.5,
            "Soups & Stocks": 0.6,
            "BBQ & Outdoor": 0.3,
            "Kitchen Equipment": 0.3,
            "Christmas Goods": 0.3,
            "Ice Cream": 0.35,
            "Heating Fuel": 0.2,
        },
    ),
    "school": (
        0.10,
        "Education",
        {
            "Fresh Produce": 0.9,
            "Dairy": 0.9,
            "Bakery": 0.8,
            "Dry Goods": 0.9,
            "Frozen Foods": 0.8,
            "Meat & Poultry": 0.7,
            "Cleaning & Hygiene": 0.9,
            "Paper & Disposables": 0.8,
            "Soft Drinks": 0.4,
            "Soups & Stocks": 0.5,
            "Snacks & Confectionery": 0.3,
        },
    ),
    "hotel": (
        0.08,
        "Hospitality",
        {
            "Dairy": 0.9,
            "Bakery": 0.9,
            "Fresh Produce": 0.85,
            "Meat & Poultry": 0.8,
            "Seafood": 0.5,
            "Frozen Foods": 0.6,
            "Hot Drinks": 0.9,
            "Soft Drinks": 0.8,
            "Cleaning & Hygiene": 0.9,
            "Paper & Disposables": 0.6,
            "Christmas Goods": 0.6,
            "Heating Fuel": 0.5,
            "Soups & Stocks": 0.5,
            "Dry Goods": 0.7,
            "Ice Cream": 0.4,
        },
    ),
    "office": (
        0.15,
        "Workplace",
        {
            "Hot Drinks": 0.95,
            "Soft Drinks": 0.8,
            "Snacks & Confectionery": 0.8,
            "Paper & Disposables": 0.9,
            "Cleaning & Hygiene": 0.9,
            "Dairy": 0.6,
            "Bakery": 0.3,
            "Christmas Goods": 0.3,
        },
    ),
    "retailer": (
        0.12,
        "Retail",
        {
            "Snacks & Confectionery": 0.9,
            "Soft Drinks": 0.9,
            "Ice Cream": 0.7,
            "Christmas Goods": 0.7,
            "BBQ & Outdoor": 0.6,
            "Dry Goods": 0.6,
            "Dairy": 0.5,
            "Bakery": 0.5,
            "Cleaning & Hygiene": 0.5,
            "Paper & Disposables": 0.3,
            "Heating Fuel": 0.3,
        },
    ),
    "caterer": (
        0.08,
        "Events",
        {
            "Meat & Poultry": 0.9,
            "Fresh Produce": 0.9,
            "Paper & Disposables": 0.9,
            "BBQ & Outdoor": 0.6,
            "Christmas Goods": 0.5,
            "Dry Goods": 0.8,
            "Frozen Foods": 0.6,
            "Seafood": 0.5,
            "Soft Drinks": 0.7,
            "Kitchen Equipment": 0.4,
            "Dairy": 0.6,
        },
    ),
}
CUSTOMER_TYPES = tuple(_TYPE_MIX)

# What a customer of a type actually does, which the ERP's customer type does not record:
# an Italian restaurant and a pub kitchen are both "restaurant", but only their baskets tell
# them apart. Per type: speciality, share of the type's customers, and the probability of
# buying each of its signature categories (replacing the type's probability for them).
_SPECIALITIES: dict[str, tuple[tuple[str, float, dict[str, float]], ...]] = {
    "cafe": (
        ("coffee bar", 0.45, {"Patisserie & Desserts": 0.6}),
        (
            "brunch café",
            0.35,
            {
                "Breakfast & Spreads": 0.75,
                "Meat & Poultry": 0.6,
                "Fresh Produce": 0.85,
                "Patisserie & Desserts": 0.4,
            },
        ),
        (
            "plant-based café",
            0.20,
            {"Vegan & Free-From": 0.85, "World Foods & Spices": 0.6, "Fresh Produce": 0.8},
        ),
    ),
    "restaurant": (
        (
            "italian",
            0.30,
            {"Pasta & Italian": 0.9, "Wine": 0.75, "Patisserie & Desserts": 0.5},
        ),
        (
            "asian",
            0.25,
            {"World Foods & Spices": 0.9, "Beer & Cider": 0.6, "Seafood": 0.75},
        ),
        (
            "pub kitchen",
            0.30,
            {
                "Beer & Cider": 0.9,
                "Spirits & Mixers": 0.75,
                "Frozen Foods": 0.85,
                "BBQ & Outdoor": 0.5,
            },
        ),
        (
            "fine dining",
            0.15,
            {
                "Wine": 0.9,
                "Tableware & Linen": 0.7,
                "Seafood": 0.85,
                "Patisserie & Desserts": 0.7,
                "Spirits & Mixers": 0.6,
            },
        ),
    ),
    "school": (
        ("primary", 0.6, {"Breakfast & Spreads": 0.6}),
        (
            "secondary",
            0.4,
            {
                "Snacks & Confectionery": 0.7,
                "Soft Drinks": 0.7,
                "World Foods & Spices": 0.4,
                "Vegan & Free-From": 0.5,
            },
        ),
    ),
    "hotel": (
        ("bed & breakfast", 0.5, {"Breakfast & Spreads": 0.9}),
        (
            "full-service",
            0.5,
            {
                "Wine": 0.85,
                "Spirits & Mixers": 0.75,
                "Beer & Cider": 0.7,
                "Tableware & Linen": 0.6,
                "Patisserie & Desserts": 0.6,
                "Breakfast & Spreads": 0.6,
            },
        ),
    ),
    "office": (
        ("pantry", 0.65, {}),
        (
            "staff canteen",
            0.35,
            {
                "Fresh Produce": 0.85,
                "Meat & Poultry": 0.75,
                "Dry Goods": 0.8,
                "Vegan & Free-From": 0.5,
                "World Foods & Spices": 0.4,
            },
        ),
    ),
    "retailer": (
        ("convenience", 0.6, {"Beer & Cider": 0.75, "Spirits & Mixers": 0.6}),
        (
            "delicatessen",
            0.4,
            {
                "Pasta & Italian": 0.8,
                "Wine": 0.7,
                "World Foods & Spices": 0.5,
                "Patisserie & Desserts": 0.5,
            },
        ),
    ),
    "caterer": (
        (
            "weddings & events",
            0.5,
            {
                "Wine": 0.85,
                "Spirits & Mixers": 0.6,
                "Tableware & Linen": 0.7,
                "Patisserie & Desserts": 0.75,
            },
        ),
        (
            "contract catering",
            0.5,
            {"Vegan & Free-From": 0.6, "Frozen Foods": 0.8, "World Foods & Spices": 0.5},
        ),
    ),
}

_REGIONS = (
    "London",
    "South East",
    "South West",
    "Midlands",
    "North West",
    "North East",
    "Yorkshire",
    "Scotland",
    "Wales",
)
_NAME_FIRST = (
    "Oakfield",
    "Harbour",
    "Riverside",
    "Kingsway",
    "Meadow",
    "Elm",
    "Castle",
    "Bridge",
    "Willow",
    "Station",
    "Market",
    "Highfield",
    "Abbey",
    "Park",
    "Victoria",
    "Granary",
    "Lantern",
    "Copper",
    "Seaview",
    "Orchard",
    "Mill",
    "Beacon",
    "Ashby",
)
_NAME_TYPE = {
    "cafe": "Café",
    "restaurant": "Kitchen",
    "school": "Primary School",
    "hotel": "Hotel",
    "office": "Offices",
    "retailer": "Stores",
    "caterer": "Catering",
}

# Share of established customer x category pairs given each planted behaviour; the rest are
# steady, and steady pairs in a seasonal category or at a closing customer are labelled so.
_PAIR_BEHAVIOUR_RATES = {
    "defection": 0.05,
    "decline": 0.04,
    "stock_up": 0.04,
    "volatile": 0.08,
    "one_off": 0.06,
}
_CUSTOMER_CHURN_RATE = 0.02  # whole accounts that stop buying every category at one date
_ADOPTION_RATE = 0.15  # customers that start one new category in a half-year
_ADOPTION_PERIOD_DAYS = 183
_SETTLING_DAYS = 60  # a new customer adds categories only after its first two months

# Complementary category groups: a customer's propensity for a group raises or lowers the
# odds of every category in it together. A category may sit in more than one group.
_TASTE_GROUPS: dict[str, tuple[str, ...]] = {
    "coffee counter": ("Hot Drinks", "Bakery", "Dairy"),
    "takeaway": ("Paper & Disposables", "Soft Drinks", "Snacks & Confectionery"),
    "cooking kitchen": (
        "Fresh Produce",
        "Meat & Poultry",
        "Dry Goods",
        "Soups & Stocks",
        "Kitchen Equipment",
    ),
    "fish & frozen": ("Seafood", "Frozen Foods"),
    "summer trade": ("Ice Cream", "BBQ & Outdoor"),
    "winter trade": ("Heating Fuel", "Christmas Goods", "Soups & Stocks"),
    "housekeeping": ("Cleaning & Hygiene", "Paper & Disposables"),
    "bar": ("Wine", "Beer & Cider", "Spirits & Mixers"),
}
_TASTE_STRENGTH = 3.0  # log-odds per standard unit of group propensity
_TASTE_NOISE = 0.5  # standard deviation of a category's own log-odds offset
_TASTE_SPEND = 0.4  # how strongly the taste offset scales spend share
_COMPLEMENT_PULL = 3.0  # log weight of adopting a category whose group-mates are all bought
_SKIP_RATE = 0.03  # a steady buyer misses an order now and then (holiday, slow week)


@dataclass(frozen=True)
class SimulatedData:
    """Simulated order lines and the behaviour planted in them.

    order_lines: one row per order line, canonical input columns (order_date ISO text).
    truth_recovery: one row per established customer x category with its planted
        behaviour, event_date (start of defection, decline or stock-up, else null) and
        typical_gap_days (the planned mean days between orders).
    truth_adoptions: one row per customer x category first bought after as_of.
    customer_types: one row per customer: customer_type, speciality (what the type's
        customer actually does, visible only in its basket), size_class.
    """

    order_lines: pd.DataFrame
    truth_recovery: pd.DataFrame
    truth_adoptions: pd.DataFrame
    customer_types: pd.DataFrame
    as_of: date


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last_day = (date(year + (month == 12), month % 12 + 1, 1) - date(year, month, 1)).days
    return date(year, month, min(day.day, last_day))


def _days(values: np.ndarray) -> np.ndarray:
    """Integer day numbers (days since 1970-01-01) to datetime64[D]."""
    return values.astype("int64").astype("datetime64[D]")


def _day_number(day: date) -> int:
    return int(np.datetime64(day, "D").astype("int64"))


def _month_of(day_numbers: np.ndarray) -> np.ndarray:
    """0-based calendar month of integer day numbers."""
    return _days(day_numbers).astype("datetime64[M]").astype("int64") % 12


def _day_of_year(day_numbers: np.ndarray) -> np.ndarray:
    """0-based day of a 365-day year: 29 February shares 28 February's number, so that
    a closure from day 181 to 242 is 1 July to 31 August in every year."""
    as_dates = _days(day_numbers)
    year_start = as_dates.astype("datetime64[Y]")
    doy = (as_dates - year_start).astype("int64")
    year = year_start.astype("int64") + 1970
    is_leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return doy - (is_leap & (doy >= 59))


def _customers(rng: np.random.Generator, n_customers: int, start_day: int, as_of_day: int):
    type_names = np.array(CUSTOMER_TYPES)
    type_share = np.array([_TYPE_MIX[t][0] for t in CUSTOMER_TYPES])
    type_idx = rng.choice(len(type_names), size=n_customers, p=type_share / type_share.sum())

    annual_spend = rng.lognormal(np.log(25_000), 1.0, size=n_customers)
    size_class = np.select(
        [annual_spend < 5_000, annual_spend < 20_000, annual_spend < 80_000],
        ["tiny", "small", "medium"],
        "large",
    )
    # Larger accounts order more often: a 10x larger account orders about twice as often.
    gap_multiplier = np.clip((annual_spend / 25_000) ** -0.3, 0.45, 2.5)

    is_existing = rng.random(n_customers) < 0.75
    first_day = np.where(
        is_existing, start_day, rng.integers(start_day, as_of_day - 150, size=n_customers)
    )

    # Schools close every July-August; some hospitality accounts close for a fixed stretch
    # of weeks each year (a seaside café in winter, a hotel's refit month).
    closed_start = np.full(n_customers, -1)
    closed_length = np.zeros(n_customers, dtype=int)
    is_school = type_names[type_idx] == "school"
    closed_start[is_school] = 181  # day of year of 1 July (0-based, non-leap)
    closed_length[is_school] = 62
    may_close = np.isin(type_names[type_idx], ["cafe", "restaurant", "hotel"])
    closes = may_close & (rng.random(n_customers) < 0.08)
    closed_start[closes] = rng.integers(0, 365, size=closes.sum())
    closed_length[closes] = rng.integers(21, 61, size=closes.sum())

    region_idx = rng.integers(0, len(_REGIONS), size=n_customers)
    is_chain = may_close & (rng.random(n_customers) < 0.15)
    parent = np.where(is_chain, rng.integers(1, max(2, n_customers // 40) + 1, n_customers), 0)
    width = len(str(n_customers))
    customer_id = np.array([f"C{i:0{width}d}" for i in range(1, n_customers + 1)])
    name_pick = rng.integers(0, len(_NAME_FIRST), size=(n_customers, 2))
    customer_name = np.array(
        [
            f"{_NAME_FIRST[a]} {_NAME_FIRST[b]} {_NAME_TYPE[type_names[t]]}".replace(
                f"{_NAME_FIRST[a]} {_NAME_FIRST[a]}", _NAME_FIRST[a]
            )
            for a, b, t in zip(name_pick[:, 0], name_pick[:, 1], type_idx, strict=True)
        ]
    )
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "customer_type": type_names[type_idx],
            "type_idx": type_idx,
            "size_class": size_class,
            "annual_spend": annual_spend,
            "gap_multiplier": gap_multiplier,
            "first_day": first_day,
            "closed_start": closed_start,
            "closed_length": closed_length,
            "customer_name": customer_name,
            "parent_customer_id": np.where(parent > 0, np.char.add("P", parent.astype(str)), None),
            "segment": [_TYPE_MIX[t][1] for t in type_names[type_idx]],
            "rep_id": np.char.add("R", (region_idx + 1).astype(str)),
            "region": np.array(_REGIONS)[region_idx],
            "country": "United Kingdom",
            "price_factor": rng.uniform(0.88, 1.02, size=n_customers),
        }
    )


def _type_weights() -> np.ndarray:
    """Probability of buying each category, shape (n_types, n_categories)."""
    weights = np.full((len(CUSTOMER_TYPES), len(_CATEGORIES)), 0.05)
    for t, type_name in enumerate(CUSTOMER_TYPES):
        for name, p in _TYPE_MIX[type_name][2].items():
            weights[t, CATEGORY_NAMES.index(name)] = p
    return weights


def _specialities(seed: int, type_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's speciality within its type, and its probability of buying each
    category: the type's, with the speciality's signature categories replaced.

    Returns (speciality names, shape (n_customers,); probabilities, shape (n_customers,
    n_categories)). Drawn from a generator of its own, seeded by ``seed``.
    """
    draw = np.random.default_rng([seed, 2]).random(len(type_idx))
    weights = _type_weights()[type_idx]
    speciality = np.empty(len(type_idx), dtype=object)
    for t, type_name in enumerate(CUSTOMER_TYPES):
        options = _SPECIALITIES[type_name]
        edges = np.cumsum([share for _, share, _ in options])
        rows = np.flatnonzero(type_idx == t)
        pick = np.minimum(
            np.searchsorted(edges / edges[-1], draw[rows], side="right"), len(options) - 1
        )
        for k, (name, _, signature) in enumerate(options):
            chosen = rows[pick == k]
            speciality[chosen] = name
            for category, probability in signature.items():
                weights[chosen, CATEGORY_NAMES.index(category)] = probability
    return speciality, weights


def _adopt(
    rng: np.random.Generator, weights: np.ndarray, buys: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """The category each eligible customer starts buying in one half-year, or -1.

    A customer adopts with probability ``_ADOPTION_RATE``, one category it does not buy,
    picked with weight equal to its odds p / (1 - p) times the pull of complements: an
    account adds what goes with what it already buys (lids after cups), so the weight is
    multiplied by exp(``_COMPLEMENT_PULL`` x the share of the category's group-mates it
    buys). A weighted pick without a second draw: the largest log(u) / weight among the
    candidates (Efraimidis and Spirakis).
    """
    candidate = ~buys
    adopter = eligible & (rng.random(len(buys)) < _ADOPTION_RATE) & candidate.any(axis=1)
    odds = weights / (1 - weights) * np.exp(_COMPLEMENT_PULL * _complement_share(buys))
    score = np.where(candidate, np.log(rng.random(weights.shape)) / odds, -np.inf)
    return np.where(adopter, score.argmax(axis=1), -1)


def _group_membership() -> np.ndarray:
    """Whether each category belongs to each taste group, shape (n_groups, n_categories)."""
    member = np.zeros((len(_TASTE_GROUPS), len(_CATEGORIES)), dtype=bool)
    for g, names in enumerate(_TASTE_GROUPS.values()):
        member[g, [CATEGORY_NAMES.index(name) for name in names]] = True
    return member


def _complement_share(buys: np.ndarray) -> np.ndarray:
    """Share of each category's group-mates (other categories sharing a group) each customer
    buys, shape (n_customers, n_categories); 0 for a category in no group."""
    member = _group_membership().astype(float)
    mates = ((member.T @ member) > 0).astype(float)
    np.fill_diagonal(mates, 0.0)
    n_mates = mates.sum(axis=0)
    return (buys.astype(float) @ mates) / np.maximum(n_mates, 1.0)


def _taste_offsets(seed: int, n_customers: int) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's log-odds offset per category, and its standard deviation per category.

    Returns (offsets of shape (n_customers, n_categories), sd of shape (n_categories,)).
    Drawn from a generator of its own, seeded by ``seed``: one standard-normal propensity
    per group in ``_TASTE_GROUPS``, averaged over the groups a category belongs to, plus
    independent noise per category.
    """
    taste_rng = np.random.default_rng([seed, 1])
    loading = _group_membership().astype(float)
    n_groups = loading.sum(axis=0)
    loading /= np.maximum(n_groups, 1.0)
    propensity = taste_rng.standard_normal((n_customers, len(_TASTE_GROUPS)))
    noise = taste_rng.normal(0.0, _TASTE_NOISE, (n_customers, len(_CATEGORIES)))
    offsets = _TASTE_STRENGTH * propensity @ loading + noise
    sd = np.sqrt(_TASTE_STRENGTH**2 * (loading**2).sum(axis=0) + _TASTE_NOISE**2)
    return offsets, sd


def _is_closed(day_numbers: np.ndarray, closed_start: np.ndarray, closed_length: np.ndarray):
    """Whether each day falls in its customer's yearly closure (start day-of-year, length)."""
    offset = (_day_of_year(day_numbers) - closed_start) % 365
    return (closed_start >= 0) & (offset < closed_length)


def simulate(
    *,
    n_customers: int = 2000,
    start: date = date(2023, 1, 1),
    as_of: date = date(2025, 6, 30),
    months_after: int = 6,
    seed: int = 0,
) -> SimulatedData:
    """Simulate a wholesaler's order lines from ``start`` to ``months_after`` past ``as_of``.

    Returns order lines (one row per order line) with the truth planted in them; see
    ``SimulatedData``. About 1,400 customers give a million lines over 2.5 years.
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    if not start < as_of:
        raise ValueError(f"start ({start}) must be before as_of ({as_of})")
    if (as_of - start).days < 365:
        raise ValueError(f"need a year of history before as_of; start={start}, as_of={as_of}")
    if months_after < 0:
        raise ValueError(f"months_after must be >= 0, got {months_after}")

    rng = np.random.default_rng(seed)
    start_day, as_of_day = _day_number(start), _day_number(as_of)
    end_day = _day_number(_add_months(as_of, months_after))
    customers = _customers(rng, n_customers, start_day, as_of_day)

    # Which categories each customer buys, and which it adopts later: both follow the
    # customer's own probabilities (its speciality's log-odds plus its taste offsets).
    speciality, type_weights = _specialities(seed, customers["type_idx"].to_numpy())
    taste, taste_sd = _taste_offsets(seed, n_customers)
    # The type's log-odds are stretched so that, averaged over tastes, the share of a type's
    # customers buying a category stays its _TYPE_MIX probability (logistic-normal mean by
    # the probit approximation: E[sigmoid(a + sd Z)] ~ sigmoid(a / sqrt(1 + pi sd^2 / 8))).
    stretch = np.sqrt(1 + np.pi * taste_sd**2 / 8)
    type_logit = np.log(type_weights / (1 - type_weights)) * stretch
    weights = 1 / (1 + np.exp(-(type_logit + taste)))
    buys = rng.random(weights.shape) < weights
    empty = ~buys.any(axis=1)
    buys[empty, weights[empty].argmax(axis=1)] = True
    # Adoption goes on all through the history, half-year by half-year, by the same rule
    # as after as-of: adopted_day is the day a pair started, -1 for the starting basket.
    first_day = customers["first_day"].to_numpy()
    adopted_day = np.full(buys.shape, -1)
    everyone = np.arange(n_customers)
    for period_start in range(start_day, as_of_day, _ADOPTION_PERIOD_DAYS):
        period_end = min(period_start + _ADOPTION_PERIOD_DAYS, as_of_day)
        day = rng.integers(period_start, period_end, n_customers)
        picked = _adopt(rng, weights, buys, day >= first_day + _SETTLING_DAYS)
        adopters = everyone[picked >= 0]
        buys[adopters, picked[adopters]] = True
        adopted_day[adopters, picked[adopters]] = day[adopters]
    adopt_cat = _adopt(rng, weights, buys, np.ones(n_customers, dtype=bool))
    adopter = adopt_cat >= 0

    cust_idx, cat_idx = np.nonzero(buys)
    n_pairs_before = len(cust_idx)
    adopt_cust = np.flatnonzero(adopter)
    cust_idx = np.concatenate([cust_idx, adopt_cust])
    cat_idx = np.concatenate([cat_idx, adopt_cat[adopt_cust]])
    is_adoption = np.arange(len(cust_idx)) >= n_pairs_before
    n_pairs = len(cust_idx)

    base_gap = np.array([c[2] for c in _CATEGORIES])
    share = np.array([c[3] for c in _CATEGORIES])
    taste_share = share * np.exp(_TASTE_SPEND * taste)
    cust_share = np.where(buys, taste_share, 0.0)
    cust_share[adopt_cust, adopt_cat[adopt_cust]] = taste_share[adopt_cust, adopt_cat[adopt_cust]]
    cust_share /= cust_share.sum(axis=1, keepdims=True)

    gap = base_gap[cat_idx] * customers["gap_multiplier"].to_numpy()[cust_idx]
    gap = np.clip(gap * rng.lognormal(0, 0.3, n_pairs), 5, 120)
    daily_spend = (
        customers["annual_spend"].to_numpy()[cust_idx] * cust_share[cust_idx, cat_idx] / 365
    )

    # Planted behaviour per established pair.
    behaviour = np.full(n_pairs, "steady", dtype=object)
    draw = rng.random(n_pairs)
    edges = np.cumsum(list(_PAIR_BEHAVIOUR_RATES.values()))
    for name, low, high in zip(_PAIR_BEHAVIOUR_RATES, np.r_[0, edges[:-1]], edges, strict=True):
        behaviour[(draw >= low) & (draw < high) & ~is_adoption] = name
    churner = rng.random(n_customers) < _CUSTOMER_CHURN_RATE
    churn_day = rng.integers(as_of_day - 300, as_of_day + 45, size=n_customers)
    is_churn_pair = churner[cust_idx] & ~is_adoption
    behaviour[is_churn_pair] = "defection"

    pair_first = first_day[cust_idx]
    started_later = np.r_[
        adopted_day[cust_idx[:n_pairs_before], cat_idx[:n_pairs_before]],
        np.full(n_pairs - n_pairs_before, -1),
    ]
    pair_first = np.where(started_later >= 0, started_later, pair_first)
    adopt_first = rng.integers(as_of_day + 1, max(as_of_day + 2, end_day - 14), n_pairs)
    pair_first = np.where(is_adoption, adopt_first, pair_first)

    # Defections and declines start at a known day, mostly before as-of; a stock-up is
    # placed one to three cycles before as-of so that the pair looks overdue at as-of.
    event_day = np.full(n_pairs, -1)
    is_defection = behaviour == "defection"
    is_decline = behaviour == "decline"
    is_stock_up = behaviour == "stock_up"
    earliest = pair_first + (6 * gap).astype(int)
    drift = rng.integers(as_of_day - 330, as_of_day + 60, n_pairs)
    event_day[is_defection] = np.maximum(drift, earliest)[is_defection]
    event_day[is_churn_pair] = np.maximum(churn_day[cust_idx], earliest)[is_churn_pair]
    decline_day = rng.integers(as_of_day - 330, as_of_day + 1, n_pairs)
    event_day[is_decline] = np.minimum(np.maximum(decline_day, earliest), as_of_day)[is_decline]
    stock_target = as_of_day - (rng.uniform(1.2, 2.5, n_pairs) * gap).astype(int)
    decline_factor = rng.uniform(0.3, 0.5, n_pairs)
    decline_by_amount = rng.random(n_pairs) < 0.5
    stock_multiple = rng.uniform(3.5, 5, n_pairs)

    season_names = [c[1] for c in _CATEGORIES]
    is_seasonal_cat = np.array([min(_SEASONS[s]) < 0.3 for s in season_names])
    has_closure = customers["closed_start"].to_numpy() >= 0
    steady = behaviour == "steady"
    behaviour[steady & is_seasonal_cat[cat_idx] & ~is_adoption] = "seasonal"
    steady = behaviour == "steady"
    behaviour[steady & has_closure[cust_idx] & ~is_adoption] = "closed_period"

    # Regularity: gamma-distributed gaps; shape 4-16 is a regular buyer (CV 0.25-0.5),
    # shape under 1.5 a volatile one.
    is_volatile = behaviour == "volatile"
    shape = np.where(is_volatile, rng.uniform(0.8, 1.5, n_pairs), rng.uniform(4, 16, n_pairs))
    amount_sigma = np.where(is_volatile, 0.8, rng.uniform(0.15, 0.35, n_pairs))

    # Candidate order days, generated flat for all pairs at once.
    is_one_off = behaviour == "one_off"
    horizon = end_day - pair_first
    n_cand = np.where(is_one_off, 0, np.ceil(2 * horizon / gap + 20).astype(int))
    n_cand = np.maximum(n_cand, 0)
    pair_of = np.repeat(np.arange(n_pairs), n_cand)
    offsets = np.r_[0, np.cumsum(n_cand)[:-1]]
    gaps = rng.gamma(shape[pair_of], (gap / shape)[pair_of])
    phase = rng.uniform(0, 1, n_pairs) * gap
    cum = np.cumsum(gaps)
    group_base = (cum - gaps)[offsets[pair_of]]
    day_float = pair_first[pair_of] + phase[pair_of] + (cum - gaps - group_base)

    # A stock-up: the order nearest before the target day is several times the usual size
    # and the pair's later orders move out by the extra cover it bought.
    before_target = (day_float <= stock_target[pair_of]) & is_stock_up[pair_of]
    n_before = np.bincount(pair_of, weights=before_target, minlength=n_pairs).astype(int)
    stock_row = np.where(is_stock_up & (n_before > 0), offsets + n_before - 1, -1)
    stock_day = np.full(n_pairs, np.nan)
    stock_day[stock_row >= 0] = day_float[stock_row[stock_row >= 0]]
    extra = np.where(is_stock_up, (stock_multiple - 1) * gap, 0.0)
    day_float = day_float + np.where(day_float > stock_day[pair_of], extra[pair_of], 0.0)
    order_day = np.floor(day_float).astype(int)
    event_day[stock_row >= 0] = np.floor(stock_day[stock_row >= 0]).astype(int)

    amount = (
        daily_spend[pair_of]
        * gap[pair_of]
        * rng.lognormal(-0.5 * amount_sigma[pair_of] ** 2, amount_sigma[pair_of])
    )
    is_stock_order = np.zeros(len(pair_of), dtype=bool)
    is_stock_order[stock_row[stock_row >= 0]] = True
    amount = np.where(is_stock_order, amount * stock_multiple[pair_of], amount)

    # Thin the candidates: season, yearly closure, skipped orders, decline, defection.
    season_table = np.array([_SEASONS[s] for s in season_names])
    keep = rng.random(len(pair_of)) < season_table[cat_idx[pair_of], _month_of(order_day)]
    keep &= ~_is_closed(
        order_day,
        customers["closed_start"].to_numpy()[cust_idx][pair_of],
        customers["closed_length"].to_numpy()[cust_idx][pair_of],
    )
    skip_rate = np.where(is_volatile, 0.0, _SKIP_RATE)
    keep &= rng.random(len(pair_of)) >= skip_rate[pair_of]
    keep |= is_stock_order
    after_event = order_day >= event_day[pair_of]
    declining = is_decline[pair_of] & after_event
    keep &= ~(
        declining
        & ~decline_by_amount[pair_of]
        & (rng.random(len(pair_of)) >= decline_factor[pair_of])
    )
    amount = np.where(
        declining & decline_by_amount[pair_of], amount * decline_factor[pair_of], amount
    )
    keep &= ~(is_defection[pair_of] & after_event)
    keep &= (order_day <= end_day) & (order_day >= pair_first[pair_of])

    order_pair = pair_of[keep]
    order_day = order_day[keep]
    order_amount = amount[keep]

    # One-off pairs: one or two orders at random days before as-of.
    one_off_pairs = np.flatnonzero(is_one_off)
    n_one = rng.integers(1, 3, size=len(one_off_pairs))
    one_pair = np.repeat(one_off_pairs, n_one)
    one_day = rng.integers(
        pair_first[one_pair], np.maximum(pair_first[one_pair] + 1, as_of_day - 30)
    )
    # A closed customer buys nothing, one-offs included: move such a day to the eve of the
    # closure.
    one_closed_start = customers["closed_start"].to_numpy()[cust_idx][one_pair]
    one_closed = _is_closed(
        one_day, one_closed_start, customers["closed_length"].to_numpy()[cust_idx][one_pair]
    )
    into_closure = (_day_of_year(one_day) - one_closed_start) % 365
    one_day = np.where(one_closed, one_day - into_closure - 1, one_day)
    one_amount = daily_spend[one_pair] * gap[one_pair] * rng.lognormal(0, 0.4, len(one_pair))
    order_pair = np.concatenate([order_pair, one_pair])
    order_day = np.concatenate([order_day, one_day])
    order_amount = np.concatenate([order_amount, one_amount])
    order_amount = np.maximum(order_amount, 5.0)

    lines = _order_lines(
        rng, customers, cust_idx, cat_idx, order_pair, order_day, order_amount, start_day
    )
    logger.info(
        "simulated %d order lines for %d customers (seed %d)", len(lines), n_customers, seed
    )

    customer_id = customers["customer_id"].to_numpy()
    established = ~is_adoption
    truth = pd.DataFrame(
        {
            "customer_id": customer_id[cust_idx[established]],
            "category": np.array(CATEGORY_NAMES)[cat_idx[established]],
            "behaviour": behaviour[established].astype(str),
            "event_date": pd.to_datetime(
                np.where(event_day >= 0, _days(np.maximum(event_day, 0)), np.datetime64("NaT"))
            )[established].date,
            "typical_gap_days": np.round(gap[established], 1),
        }
    )
    truth.loc[~truth["behaviour"].isin(["defection", "decline", "stock_up"]), "event_date"] = None
    # A stock-up whose target fell before the pair's first order never happened.
    no_stock = (truth["behaviour"] == "stock_up") & truth["event_date"].isna()
    truth.loc[no_stock, "behaviour"] = "steady"
    adopted_first = pd.Series(order_day).groupby(order_pair).min()
    adopt_rows = np.flatnonzero(is_adoption)
    adopt_rows = adopt_rows[np.isin(adopt_rows, adopted_first.index)]
    adoptions = pd.DataFrame(
        {
            "customer_id": customer_id[cust_idx[adopt_rows]],
            "category": np.array(CATEGORY_NAMES)[cat_idx[adopt_rows]],
            "first_order_date": _days(adopted_first.loc[adopt_rows].to_numpy()).astype(object),
        }
    )
    adoptions["first_order_date"] = pd.to_datetime(adoptions["first_order_date"]).dt.date
    return SimulatedData(
        order_lines=lines,
        truth_recovery=truth.sort_values(["customer_id", "category"], ignore_index=True),
        truth_adoptions=adoptions.sort_values(["customer_id", "category"], ignore_index=True),
        customer_types=customers.assign(speciality=speciality.astype(str))[
            ["customer_id", "customer_type", "speciality", "size_class"]
        ].copy(),
        as_of=as_of,
    )


def _order_lines(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    cust_idx: np.ndarray,
    cat_idx: np.ndarray,
    order_pair: np.ndarray,
    order_day: np.ndarray,
    order_amount: np.ndarray,
    start_day: int,
) -> pd.DataFrame:
    """Split each customer x category x day order into product lines (one row per line)."""
    n_products = np.array([len(c[4]) for c in _CATEGORIES])
    product_offset = np.r_[0, np.cumsum(n_products)[:-1]]
    product_names = np.array([p[0] for c in _CATEGORIES for p in c[4]])
    product_price = np.array([p[1] for c in _CATEGORIES for p in c[4]])
    product_cat = np.repeat(np.arange(len(_CATEGORIES)), n_products)
    product_id = np.array([f"SKU{1000 + i}" for i in range(len(product_names))])

    pair_main = rng.integers(0, 1_000_000, size=len(cust_idx))
    order_cat = cat_idx[order_pair]
    n_lines = np.minimum(1 + rng.poisson(0.9, len(order_pair)), n_products[order_cat])
    line_order = np.repeat(np.arange(len(order_pair)), n_lines)
    line_within = np.arange(len(line_order)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    cat_of_line = order_cat[line_order]
    product = product_offset[cat_of_line] + (
        (pair_main[order_pair[line_order]] + line_within) % n_products[cat_of_line]
    )
    weight = rng.exponential(1.0, len(line_order)) + np.where(line_within == 0, 1.0, 0.0)
    weight_total = np.bincount(line_order, weights=weight)
    line_amount = order_amount[line_order] * weight / weight_total[line_order]

    day = order_day[line_order]
    years_in = (day - start_day) / 365.25
    price_factor = customers["price_factor"].to_numpy()[cust_idx[order_pair[line_order]]]
    unit_price = np.round(product_price[product] * price_factor * 1.03**years_in, 2)
    quantity = np.maximum(1, np.round(line_amount / unit_price)).astype(int)

    line_cust = cust_idx[order_pair[line_order]]
    order_key = line_cust.astype("int64") * 100_000 + (day - start_day + 50_000)
    unique_keys, order_number = np.unique(order_key, return_inverse=True)
    chronological = np.argsort(unique_keys % 100_000, kind="stable")
    rank = np.empty_like(chronological)
    rank[chronological] = np.arange(len(chronological))
    width = len(str(len(unique_keys)))
    order_id = np.char.add("SO", np.char.zfill(rank[order_number].astype(str), width))

    frame = pd.DataFrame(
        {
            "order_id": order_id,
            "order_date": _days(day).astype(str),
            "customer_id": customers["customer_id"].to_numpy()[line_cust],
            "product_id": product_id[product],
            "product_name": product_names[product],
            "category": np.array(CATEGORY_NAMES)[product_cat[product]],
            "quantity": quantity,
            "unit_price": unit_price,
            "customer_name": customers["customer_name"].to_numpy()[line_cust],
            "parent_customer_id": customers["parent_customer_id"].to_numpy()[line_cust],
            "segment": customers["segment"].to_numpy()[line_cust],
            "rep_id": customers["rep_id"].to_numpy()[line_cust],
            "region": customers["region"].to_numpy()[line_cust],
            "country": customers["country"].to_numpy()[line_cust],
        }
    )
    return frame.sort_values(["order_id", "product_id"], kind="stable", ignore_index=True)


def write_simulation(data: SimulatedData, out_dir: Path) -> dict[str, Path]:
    """Write the simulated order lines, the truth tables and a mapping file into ``out_dir``.

    Returns the written paths by name: order_lines (CSV.gz), truth_recovery,
    truth_adoptions, customer_types (CSV) and mapping (YAML for the input contract).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "order_lines": out_dir / "order_lines.csv.gz",
        "truth_recovery": out_dir / "truth_recovery.csv",
        "truth_adoptions": out_dir / "truth_adoptions.csv",
        "customer_types": out_dir / "customer_types.csv",
        "mapping": out_dir / "mapping.yaml",
    }
    data.order_lines.to_csv(paths["order_lines"], index=False, compression="gzip")
    data.truth_recovery.to_csv(paths["truth_recovery"], index=False)
    data.truth_adoptions.to_csv(paths["truth_adoptions"], index=False)
    data.customer_types.to_csv(paths["customer_types"], index=False)
    mapping = {
        "source_name": f"Longtail simulation (as of {data.as_of.isoformat()})",
        "csv": {"delimiter": ",", "encoding": "utf-8"},
        "columns": {name: name for name in data.order_lines.columns},
        "order_date_formats": ["%Y-%m-%d"],
        "cancellation_order_prefixes": [],
        "adjustment_order_prefixes": [],
        "non_product_codes": [],
        "non_product_code_like": [],
    }
    paths["mapping"].write_text(
        "# Mapping for simulated order lines: canonical columns map to themselves.\n"
        + yaml.safe_dump(mapping, sort_keys=False),
        encoding="utf-8",
    )
    logger.info("wrote simulation (%d lines) to %s", len(data.order_lines), out_dir)
    return paths
