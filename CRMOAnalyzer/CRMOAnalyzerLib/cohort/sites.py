"""Cohort sites, distribution-pattern classes and published frequencies, read from ``resources/cohort``."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from ..anatomy import bones
from ..io.files import read_json, resource

__all__ = ["sites", "site_of_bone", "pattern_classes", "pattern_class", "published", "synthetic_model", "OTHER"]

#: site id of a bone that no site lists
OTHER = "other"


def _resource(name: str, what: str) -> Any:
    return read_json(resource("cohort", name), what)


@lru_cache(maxsize=None)
def _sites_doc() -> dict[str, Any]:
    return _resource("sites.json", "cohort site table")


def sites() -> list[dict[str, Any]]:
    """Sites head to toe: ``{"id", "display", "bones", "paired"}``."""
    return _sites_doc()["sites"]


@lru_cache(maxsize=None)
def _site_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for bone in bones().values():
        for site in sites():
            if any(fnmatch.fnmatchcase(bone.base, pattern) for pattern in site["bones"]):
                index[bone.base] = site["id"]
                break
    return index


def site_of_bone(base: str) -> str:
    """The site of a bone, by its side-less base name (``"rib_5"`` -> ``"ribs"``), or :data:`OTHER`."""
    return _site_index().get(base, OTHER)


def pattern_classes() -> list[dict[str, Any]]:
    """Andronikou distribution-pattern classes (``id``, ``display``, ``requires``, ``excludes``)."""
    return _sites_doc()["patterns"]["classes"]


def pattern_class(involved: Iterable[str]) -> str:
    """The pattern class of a patient from the set of involved site ids."""
    involved = set(involved)
    for rule in pattern_classes():
        if all(s in involved for s in rule["requires"]) and not any(s in involved for s in rule["excludes"]):
            return rule["id"]
    return OTHER


@lru_cache(maxsize=None)
def published() -> dict[str, Any]:
    """Published cohort frequencies with their citations (``resources/cohort/published.json``)."""
    return _resource("published.json", "published cohort frequencies")


@lru_cache(maxsize=None)
def synthetic_model() -> dict[str, Any]:
    """Parameters of the synthetic cohort generator with their sources."""
    return _resource("synthetic.json", "synthetic cohort model")
