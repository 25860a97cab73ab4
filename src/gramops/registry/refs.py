"""How people name models: semvers, aliases, SHA prefixes and family names, and the rules
that keep them apart when a ref is resolved.

A ref is one string; its shape alone says what it is (all hex: a SHA or a prefix of one;
``v1.2.3``: a semver; ``fp32``, ``int8``, ``lora``: that family's newest registered entry;
anything else: an alias). Alias names are refused when they could be read as one of the
others, so resolution never has to guess. These are pure functions of
the bindings they are given; :class:`gramops.registry.reader.RegistryReader` reads them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from gramops.core.vocab import FAMILIES
from gramops.registry.layout import RegistryError

# a shorter prefix would soon be ambiguous as the registry grows
MIN_SHORT_SHA = 8

_SEMVER = re.compile(r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]*")
_SEMVER_LIKE_ALIAS = re.compile(r"v[0-9][0-9._-]*")
_HEX = re.compile(r"[0-9a-f]+")


def parse_semver(text: str) -> tuple[int, int, int]:
    """``v1.2.3`` or ``1.2.3`` as a sortable tuple; anything else is refused with the format."""
    match = _SEMVER.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise RegistryError(
            f"{text!r} is not a semver: use vMAJOR.MINOR.PATCH, e.g. v0.1.0 (the v is optional)"
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def format_semver(version: tuple[int, int, int]) -> str:
    return "v{}.{}.{}".format(*version)


def normalize_semver(text: str) -> str:
    """The stored spelling of a semver: always with the leading ``v``."""
    return format_semver(parse_semver(text))


def is_semver(text: str) -> bool:
    return isinstance(text, str) and _SEMVER.fullmatch(text.strip()) is not None


def sorted_semvers(semvers: Iterable[str]) -> list[str]:
    """Semvers in version order (``v0.10.0`` after ``v0.9.0``), oldest first."""
    return sorted(semvers, key=parse_semver)


def check_alias(name: str) -> str:
    """Alias names can never be confused with a SHA prefix or a semver when resolving a ref."""
    if (
        not isinstance(name, str)
        or not _ALIAS.fullmatch(name)
        or _HEX.fullmatch(name)
        or _SEMVER_LIKE_ALIAS.fullmatch(name)
        or name in FAMILIES
    ):
        raise RegistryError(
            f"{name!r} is not a valid alias: use lowercase [a-z][a-z0-9_-]* that is neither all "
            "hex digits (it would read as a SHA), v<digits> (a semver) nor a family name "
            f"({', '.join(FAMILIES)}: the family's newest entry), e.g. production, challenger"
        )
    return name


def ref_text(ref: str) -> str:
    """A ref without surrounding blanks; an empty one is refused with the accepted forms."""
    text = ref.strip() if isinstance(ref, str) else ""
    if not text:
        raise RegistryError(
            f"empty ref {ref!r}: give a SHA (8+ hex digits), a semver, an alias or a family name"
        )
    return text


def is_hex(text: str) -> bool:
    """Whether a ref reads as a SHA or a SHA prefix (hex digits, any case)."""
    return _HEX.fullmatch(text.lower()) is not None


def semver_target(text: str, tags: Mapping[str, str], url: str) -> str:
    """The SHA a semver ref is tagged to in ``tags``; refused with the tagged versions."""
    semver = normalize_semver(text)
    if semver in tags:
        return tags[semver]
    known = ", ".join(sorted_semvers(tags)) or "none"
    raise RegistryError(f"semver {semver} is not tagged in {url} (tagged: {known})")


def alias_target(text: str, aliases: Mapping[str, str], url: str) -> str:
    """The SHA an alias ref points at; an unknown ref is refused with every form it could take."""
    if text in aliases:
        return aliases[text]
    known = ", ".join(sorted(aliases)) or "none"
    raise RegistryError(
        f"unknown ref {text!r}: not a SHA (8+ hex digits), a semver (v0.1.0), a family name "
        f"({', '.join(FAMILIES)}) or an alias of {url} (aliases: {known}); "
        "`gramops registry list` shows what exists"
    )


def is_family(text: str) -> bool:
    return text in FAMILIES


def family_target(
    family: str,
    registered: Sequence[str],
    family_of: Callable[[str], str | None],
    aliases: Mapping[str, str],
    url: str,
) -> str:
    """The newest entry of ``family``: of the SHAs in registration order (``registered``,
    oldest first, as the audit log records them), the last whose entry is of that family.

    Newest means last registered, not highest semver: a family name asks for what was built
    most recently, released or not. An alias carrying a family's name (one made before
    family names were refs) would make the name mean two things, so it is refused.
    """
    if family in aliases:
        raise RegistryError(
            f"ref {family!r} is both a family name and an alias of {url}; point a differently "
            f"named alias at {aliases[family]} and remove {family!r} from aliases.json"
        )
    for sha in reversed(registered):
        if family_of(sha) == family:
            return sha
    raise RegistryError(
        f"family {family} has no registered entry in {url}; `gramops registry list` shows "
        "what exists (`dvc repro register` registers the pipeline's bundles)"
    )


def check_prefix(text: str) -> None:
    """Refuse a SHA prefix too short to stay unambiguous (a full SHA is always long enough)."""
    if len(text) < MIN_SHORT_SHA:
        raise RegistryError(
            f"short SHA {text!r} has {len(text)} hex digits; give at least "
            f"{MIN_SHORT_SHA} so it stays unambiguous as the registry grows"
        )


def prefix_target(text: str, shas: Iterable[str], url: str) -> str:
    """The one registered SHA that starts with the prefix ``text``; none or several is refused."""
    lowered = text.lower()
    matches = [sha for sha in shas if sha.startswith(lowered)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RegistryError(f"no registered SHA starts with {text!r} in {url}")
    raise RegistryError(
        f"short SHA {text!r} is ambiguous, it matches {len(matches)} entries: "
        f"{', '.join(matches)}; give more hex digits"
    )


def next_semver(
    family: str, mine: Iterable[str], tags: Mapping[str, str], first: str | None
) -> str:
    """The version a family's next released model gets: the next free patch after the
    family's highest (``mine``: the semvers its models hold), or ``first`` for a family with
    no version yet. ``tags`` are every family's bindings: versions are shared, never reused."""
    mine = sorted_semvers(mine)
    if not mine:
        if first is None:
            raise RegistryError(
                f"{family} has no semver yet: give its first version "
                f"(params.yaml release.first_semver.{family})"
            )
        seed = normalize_semver(first)
        if seed in tags:
            raise RegistryError(
                f"semver already mapped to a different SHA: {seed} (the first version for "
                f"{family}) is {tags[seed]}; pick another first version"
            )
        return seed
    major, minor, patch = parse_semver(mine[-1])
    candidate = format_semver((major, minor, patch + 1))
    while candidate in tags:  # another family took it: the next free patch
        patch += 1
        candidate = format_semver((major, minor, patch + 1))
    return candidate
