"""The IPIP-NEO inventory (public domain): 300 items, the 120-item short form, domains and facets."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DOMAINS: dict[str, str] = {
    "A": "Agreeableness",
    "C": "Conscientiousness",
    "E": "Extraversion",
    "N": "Neuroticism",
    "O": "Openness",
}
FORMS = ("120", "300")


@dataclass(frozen=True)
class Item:
    number: int  # position in the 300-item form, 1..300 (PAPI's `iN`)
    neo120: int | None  # position in the 120-item short form, or None
    keyed: str  # "+" or "-"
    domain: str  # A C E N O
    facet: str  # e.g. "N1"
    facet_name: str
    text: str

    @property
    def plus_keyed(self) -> bool:
        return self.keyed == "+"


@lru_cache(maxsize=1)
def all_items() -> tuple[Item, ...]:
    """The 300 items in the order of the 300-item form."""
    raw = resources.files("paso_local").joinpath("data/ipip_neo_300.csv").read_text(encoding="utf-8")
    items = []
    for row in csv.DictReader(io.StringIO(raw)):
        items.append(
            Item(
                number=int(row["item"]),
                neo120=int(row["neo120"]) if row["neo120"].strip() else None,
                keyed=row["keyed"].strip(),
                domain=row["domain"].strip(),
                facet=row["facet"].strip(),
                facet_name=row["facet_name"].strip(),
                text=row["text"].strip(),
            )
        )
    assert [i.number for i in items] == list(range(1, 301)), "inventory must hold items 1..300 in order"
    return tuple(items)


@lru_cache(maxsize=2)
def form_items(form: str) -> tuple[Item, ...]:
    """The items of a form in the order they are asked: "120" (short form order) or "300"."""
    if form == "300":
        return all_items()
    if form == "120":
        short = [i for i in all_items() if i.neo120 is not None]
        return tuple(sorted(short, key=lambda i: i.neo120))
    raise ValueError(f"unknown form {form!r}: choose one of {', '.join(FORMS)}")


def item(number: int) -> Item:
    return all_items()[number - 1]


def held_out_items() -> tuple[Item, ...]:
    """The 180 items of the 300-item form that are not in the 120-item form (the evaluation items)."""
    return tuple(i for i in all_items() if i.neo120 is None)


@lru_cache(maxsize=1)
def facets() -> dict[str, str]:
    """Facet code -> facet name, in domain then facet order."""
    names = {i.facet: i.facet_name for i in all_items()}
    return {code: names[code] for code in sorted(names, key=lambda c: (c[0], int(c[1:])))}


# Keyed vectors: items grouped by their domain, or by domain and IPIP key ("N+", "N-").
ITEM_GROUPINGS = ("domain", "domain+key")


def item_group(item: Item, by: str) -> str:
    if by == "domain":
        return item.domain
    if by == "domain+key":
        return f"{item.domain}{item.keyed}"
    raise ValueError(f"group items by one of {', '.join(ITEM_GROUPINGS)}, not {by!r}")
