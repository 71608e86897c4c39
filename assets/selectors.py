"""Read-side queries about assets."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from django.db.models import Count

from assets.models import AssetType


def asset_counts_by_type():
    return AssetType.objects.annotate(asset_count=Count("assets")).order_by("name")


# --- Asset types by what someone typed (the floor map's search) ------------------------------------

_TYPE_MATCH_THRESHOLD = 0.45
_WORD_FUZZY_MIN = 0.75  # difflib ratio from which a typed word counts as a misspelling of a name word
# Words people type around the type name ("nearest clean infusion pump") that name no type.
_FILLER_WORDS = frozenset({"a", "an", "the", "some", "any", "clean", "available", "free", "nearest", "closest", "need"})


def _match_words(text: str) -> list[str]:
    """Lower-case words, singular: "Infusion Pumps" -> ["infusion", "pump"]."""

    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def _word_similarity(typed: str, name_word: str) -> float:
    """1 for the same word, 0.95 for a prefix ("infu"), else the difflib ratio against the whole word or
    against its prefix of the typed length (a misspelt prefix: "infsu")."""

    if typed == name_word:
        return 1.0
    if len(typed) >= 2 and name_word.startswith(typed):
        return 0.95
    if len(typed) < 3:
        return 0.0
    whole = SequenceMatcher(None, typed, name_word).ratio()
    prefix = SequenceMatcher(None, typed, name_word[: len(typed)]).ratio() if len(name_word) > len(typed) else 0.0
    return max(whole, prefix * 0.95)


def _type_match_score(typed_words: list[str], name: str) -> float:
    name_words = _match_words(name)
    if not name_words:
        return 0.0
    if "".join(typed_words) == "".join(name_words):  # "infusion pump", "wheel chair" for Wheelchair
        return 1.0
    best = [max(_word_similarity(word, name_word) for name_word in name_words) for word in typed_words]
    matched = [score for score in best if score >= _WORD_FUZZY_MIN]
    if not matched:
        return 0.0
    # Words that match nothing lower the score: "feeding pump" is a weak answer to "infusion pump".
    return 0.9 * (sum(matched) / len(matched)) * (len(matched) / len(typed_words))


def asset_types_matching(*, query: str, limit: int = 5) -> list[AssetType]:
    """Asset types whose name matches what someone typed, best first, with prefix and typo tolerance:
    "infusion pump", "Infusion Pumps", "infu", "infsuion pmup" all find Infusion pump; "pump" finds every
    pump. Each returned type carries ``match_score`` (1 exact, down to 0.45). Empty when nothing matches.
    """
    typed = [word for word in _match_words(query) if word not in _FILLER_WORDS] or _match_words(query)
    if not typed:
        return []
    matches = []
    for asset_type in AssetType.objects.order_by("name"):  # tens of types, not thousands: scored in Python
        score = max(_type_match_score(typed, asset_type.name), _type_match_score(typed, asset_type.slug))
        if score >= _TYPE_MATCH_THRESHOLD:
            asset_type.match_score = round(score, 3)
            matches.append(asset_type)
    matches.sort(key=lambda t: (-t.match_score, t.name))
    return matches[:limit]
