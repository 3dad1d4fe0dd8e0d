from pathlib import Path

import pandas as pd
import pytest

from ml.categories import (
    CATEGORY_SOURCES,
    CategoryRule,
    CategoryRules,
    derive_categories,
    load_overrides,
    load_rules,
)

NO_PAIRS = pd.DataFrame({"product_id": [], "other_product_id": [], "n_orders": []})


def products(names: dict[str, str | None], source: dict[str, str] | None = None) -> pd.DataFrame:
    source = source or {}
    return pd.DataFrame(
        {
            "product_id": list(names),
            "product_name": list(names.values()),
            "source_category": [source.get(product_id) for product_id in names],
            "net_revenue": [10.0] * len(names),
        }
    )


def pairs(*rows: tuple[str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["product_id", "other_product_id", "n_orders"])


def rules(*categories: tuple[str, int, list[str]], **settings) -> CategoryRules:
    return CategoryRules(
        categories=tuple(
            CategoryRule(name, priority, tuple(words)) for name, priority, words in categories
        ),
        **settings,
    )


def by_id(result: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    return {
        row.product_id: (row.category, row.category_source, row.category_reason)
        for row in result.itertuples()
    }


SMALL_RULES = rules(
    ("Christmas", 100, ["CHRISTMAS"]),
    ("Hot Water Bottles", 80, ["HOT WATER BOTTLE"]),
    ("Toys", 60, ["HARMONICA"]),
    ("Candles", 50, ["CANDLE", "T LIGHT"]),
    ("Lights", 40, ["LIGHT"]),
    ("Storage", 30, ["BOX"]),
    ("Bags", 20, ["BAG"]),
    ("Decor", 10, ["BOTTLE"]),
)


def test_override_wins_over_source_category_and_keyword():
    frame = products({"P1": "CHRISTMAS CANDLE"}, source={"P1": "Seasonal"})
    overrides = pd.DataFrame({"product_id": ["P1"], "category": [" Gifts "]})

    result = derive_categories(frame, NO_PAIRS, overrides=overrides, rules=SMALL_RULES)

    assert by_id(result) == {
        "P1": ("Gifts", "override", "set by the user's category overrides"),
    }


def test_source_category_is_trimmed_and_takes_the_most_common_spelling():
    frame = products(
        {"P1": "CHRISTMAS CANDLE", "P2": "MUG", "P3": "JUG", "P4": "CUP"},
        source={"P1": " kitchen  ware ", "P2": "Kitchen ware", "P3": "Kitchen ware"},
    )

    result = by_id(derive_categories(frame, NO_PAIRS, rules=SMALL_RULES))

    assert result["P1"] == (
        "Kitchen ware",
        "source",
        "source data gives category 'Kitchen ware'",
    )
    assert result["P2"][:2] == ("Kitchen ware", "source")
    assert result["P4"][1] == "catch_all"


@pytest.mark.parametrize(
    ("name", "category", "keyword"),
    [
        # Higher priority wins between separate words.
        ("CHRISTMAS CANDLE", "Christmas", "CHRISTMAS"),
        ("VINTAGE CANDLE LIGHT", "Candles", "CANDLE"),
        # A keyword inside a longer keyword does not count, whatever its priority.
        ("T-LIGHT HOLDER", "Candles", "T LIGHT"),
        ("SCOTTIE HOT WATER BOTTLE", "Hot Water Bottles", "HOT WATER BOTTLE"),
        # Plurals match.
        ("SET OF 6 CANDLES", "Candles", "CANDLE"),
        ("NESTING BOXES", "Storage", "BOX"),
        # Words after IN or WITH describe packaging and count only as a last resort.
        ("HARMONICA IN CHRISTMAS BOX", "Toys", "HARMONICA"),
        ("SKITTLES IN COTTON BAG", "Bags", "BAG"),
        # Whole words only.
        ("BAGUETTE TRAY", None, None),
    ],
)
def test_keyword_match_follows_priority_span_and_qualifier_rules(name, category, keyword):
    result = by_id(derive_categories(products({"P1": name}), NO_PAIRS, rules=SMALL_RULES))

    if category is None:
        assert result["P1"][1] == "catch_all"
    else:
        assert result["P1"] == (category, "keyword", f"name contains '{keyword}'")


def test_packaged_taxonomy_places_christmas_candle_in_christmas():
    frame = products(
        {
            "P1": "CHRISTMAS CANDLE",
            "P2": "WHITE HANGING HEART T-LIGHT HOLDER",
            "P3": "JUMBO BAG RED RETROSPOT",
            "P4": "LUNCH BAG RED RETROSPOT",
            "P5": "CHOCOLATE HOT WATER BOTTLE",
        }
    )

    result = by_id(derive_categories(frame, NO_PAIRS))

    assert {key: value[0] for key, value in result.items()} == {
        "P1": "Christmas",
        "P2": "Candles & Holders",
        "P3": "Bags",
        "P4": "Lunch & Picnic",
        "P5": "Hot Water Bottles & Warmers",
    }


def test_similar_description_lends_the_category_of_the_closest_named_product():
    frame = products(
        {"P1": "VANILLA SCENTED CANDLE", "P2": "VANILLA SCENTED CANDEL", "P3": "GARDEN BAG"}
    )

    result = by_id(derive_categories(frame, NO_PAIRS, rules=SMALL_RULES))

    category, source, reason = result["P2"]
    assert (category, source) == ("Candles", "similar_description")
    assert reason.startswith("name resembles 'VANILLA SCENTED CANDLE' (Candles, similarity 0.")


def test_similar_description_needs_the_minimum_similarity():
    frame = products({"P1": "VANILLA SCENTED CANDLE", "P2": "VANILLA SCENTED CANDEL"})
    strict = rules(("Candles", 50, ["CANDLE"]), min_similarity=0.99)

    result = by_id(derive_categories(frame, NO_PAIRS, rules=strict))

    assert result["P2"][:2] == ("Other", "catch_all")


def test_co_purchase_picks_the_category_over_represented_in_shared_orders():
    frame = products(
        {
            "B1": "RED BAG",
            "B2": "BLUE BAG",
            "C1": "TALL CANDLE",
            "C2": "SHORT CANDLE",
            "X": "MYSTERY ITEM",
            "Y": "ZQX",
        }
    )
    shared = pairs(
        ("X", "B1", 5),
        ("X", "B2", 4),
        ("X", "C1", 12),
        ("C1", "C2", 20),
        ("C2", "C1", 20),
        ("Y", "X", 6),
    )

    result = by_id(derive_categories(frame, shared, rules=SMALL_RULES))

    # X: Bags 9 of its 21 shared orders (43%) against 9 of 61 (15%) across all products;
    # Candles 12 of 21 (57%) against 52 of 61 (85%). Bags is over-represented.
    assert result["X"] == (
        "Bags",
        "co_purchase",
        "bought in the same orders as 2 Bags products (9 orders in common, 43% of its "
        "co-purchases against 15% across all products)",
    )
    # Y is only bought with X, so it is placed in the round after X: Bags 6 of 6 against
    # 15 of 67 (22%).
    assert result["Y"] == (
        "Bags",
        "co_purchase",
        "bought in the same orders as 1 Bags product (6 orders in common, 100% of its "
        "co-purchases against 22% across all products)",
    )


def test_co_purchase_needs_the_minimum_shared_orders():
    frame = products({"B1": "RED BAG", "C1": "TALL CANDLE", "X": "MYSTERY ITEM"})
    shared = pairs(("X", "B1", 2), ("C1", "B1", 30))

    result = by_id(derive_categories(frame, shared, rules=SMALL_RULES))

    assert result["X"][:2] == ("Other", "catch_all")


def test_catch_all_explains_missing_name_and_missing_evidence():
    frame = products({"P1": None, "P2": "   ", "P3": "ZQX"})

    result = by_id(derive_categories(frame, NO_PAIRS, rules=SMALL_RULES))

    assert result == {
        "P1": ("Other", "catch_all", "no name, and no co-purchase evidence"),
        "P2": ("Other", "catch_all", "no name, and no co-purchase evidence"),
        "P3": ("Other", "catch_all", "no keyword, similar name or co-purchase evidence"),
    }


def test_product_without_name_can_be_placed_by_co_purchase():
    frame = products({"B1": "RED BAG", "B2": "BLUE BAG", "C1": "TALL CANDLE", "X": None})
    shared = pairs(("X", "B1", 4), ("C1", "B2", 10))

    result = by_id(derive_categories(frame, shared, rules=SMALL_RULES))

    assert result["X"][:2] == ("Bags", "co_purchase")


def test_same_input_in_any_row_order_gives_the_same_output():
    names = {
        "P1": "CHRISTMAS CANDLE",
        "P2": "VANILLA SCENTED CANDLE",
        "P3": "VANILLA SCENTED CANDEL",
        "P4": "MYSTERY ITEM",
        "P5": "RED BAG",
        "P6": None,
    }
    shared = pairs(("P4", "P5", 3), ("P5", "P4", 3), ("P6", "P1", 7))
    frame = products(names)

    first = derive_categories(frame, shared, rules=SMALL_RULES, seed=1)
    shuffled = derive_categories(
        frame.sample(frac=1, random_state=7), shared.iloc[::-1], rules=SMALL_RULES, seed=2
    )

    pd.testing.assert_frame_equal(first, shuffled)
    assert list(first["product_id"]) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert set(first["category_source"]) <= set(CATEGORY_SOURCES)


def test_duplicate_product_id_is_rejected_with_the_id():
    frame = products({"P1": "RED BAG"})
    frame = pd.concat([frame, frame])

    with pytest.raises(ValueError, match="product_id 'P1' appears more than once"):
        derive_categories(frame, NO_PAIRS, rules=SMALL_RULES)


def test_bad_pair_count_is_rejected_with_the_row():
    with pytest.raises(ValueError, match=r"n_orders must be a count >= 0, got -1.*'P1'"):
        derive_categories(products({"P1": "RED BAG"}), pairs(("P1", "P2", -1)), rules=SMALL_RULES)


# --------------------------------------------------------------------------------------
# load_overrides


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_overrides_reads_trimmed_rows_and_accepts_repeats_that_agree(tmp_path):
    path = write(
        tmp_path,
        "o.csv",
        "product_id,category,note\n 85123A , Candles ,x\nP2,Bags,\n85123A,Candles,\n",
    )

    result = load_overrides(path)

    assert result.to_dict("list") == {
        "product_id": ["85123A", "P2"],
        "category": ["Candles", "Bags"],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("product_id,cat\nP1,Bags\n", r"o\.csv, line 1: missing column\(s\) \['category'\]"),
        (
            "product_id,category\nP1,Bags\nP2,  \n",
            r"o\.csv, line 3: empty category for product_id 'P2'",
        ),
        ("product_id,category\n,Bags\n", r"o\.csv, line 2: empty product_id"),
        (
            "product_id,category\nP1,Bags\nP2,Toys\nP1,Candles\n",
            r"o\.csv, line 4: product_id 'P1' is given category 'Candles' "
            r"but line 2 gives it 'Bags'",
        ),
    ],
)
def test_load_overrides_names_file_line_and_value_of_bad_rows(tmp_path, text, message):
    path = write(tmp_path, "o.csv", text)

    with pytest.raises(ValueError, match=message):
        load_overrides(path)


# --------------------------------------------------------------------------------------
# load_rules


def test_packaged_rules_load_with_their_settings():
    packaged = load_rules(None)

    names = [rule.name for rule in packaged.categories]
    assert packaged.catch_all == "Other"
    assert 15 <= len(names) <= 60
    assert "Christmas" in names and "Bags" in names
    assert packaged.min_co_purchase_orders == 3
    assert "ON" in packaged.ignore_words


def test_rules_file_keywords_are_normalised(tmp_path):
    path = write(
        tmp_path,
        "r.yaml",
        "catch_all: Misc\ncategories:\n"
        "  - {name: Candles, priority: 5, keywords: [t-light, Candle]}\n",
    )

    loaded = load_rules(path)

    assert loaded.catch_all == "Misc"
    assert loaded.categories == (CategoryRule("Candles", 5, ("T LIGHT", "CANDLE")),)
    assert loaded.origin == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "categories:\n  - {name: A, priority: high, keywords: [X]}\n",
            r"r\.yaml: key 'categories\[0\]\.priority' must be an integer, got 'high'",
        ),
        (
            "categories:\n  - {name: A, priority: 1, keywords: [X]}\n"
            "  - {name: B, priority: 2, keywords: [Y, x]}\n",
            r"key 'categories\[1\]\.keywords\[1\]' repeats 'X', already a keyword of 'A'",
        ),
        (
            "categories:\n  - {name: A, priority: 1, keywords: [X]}\ncolour: red\n",
            r"key 'colour' is not a known key",
        ),
        (
            "similar_description: {ignore_words: [IN, ON]}\n"
            "categories:\n  - {name: A, priority: 1, keywords: [X]}\n",
            r"key 'similar_description\.ignore_words\[1\]' must be a single word, got True",
        ),
        ("categories: []\n", r"key 'categories' must be a non-empty list"),
    ],
)
def test_load_rules_names_file_and_key_of_bad_values(tmp_path, text, message):
    path = write(tmp_path, "r.yaml", text)

    with pytest.raises(ValueError, match=message):
        load_rules(path)
