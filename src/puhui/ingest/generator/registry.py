"""The entities of one chunk: who they are (the SAMR registry) and their latent size.

Invariants:
- USCCs are unique city-wide: positions 9-17 come from a bijection of the entity's global
  index (8 digits + GB 11714 check for entities established before 2016, ``MA2`` + 6
  characters after), so codes never collide across chunks and codes built from indices at or
  beyond ``entities`` are guaranteed not to be in the registry.
- Entity names are unique city-wide (``seen`` is shared across chunks); near-duplicates with
  the same 字号 and a different industry word or place are common, as in real registers.
- Resident ID numbers carry a valid GB 11643 check digit and a birth date 21-58 years before
  the entity was established.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from puhui.entities import service as uscc
from puhui.ingest.generator import words
from puhui.ingest.generator.calendar import Calendar

ENTERPRISE, INDIVIDUAL, COOPERATIVE = 0, 1, 2
KIND_NAMES = ("enterprise", "individual_business", "cooperative")
KIND_SHARES = (0.325, 0.65, 0.025)  # about two individual businesses per enterprise
STATUS_NAMES = ("active", "revoked", "deregistered", "moved_out")
NEVER = 10**6  # exit month of entities still active


_VALUES = {c: i for i, c in enumerate(uscc.ALPHABET)}
_WEIGHTS = np.array(uscc.WEIGHTS, dtype=np.int64)
_ALPHA = np.array(list(uscc.ALPHABET))
_OLD_MULT, _OLD_ADD, _OLD_MOD = 48_271, 12_345_678, 10**8
_NEW_MULT, _NEW_ADD, _NEW_MOD = 1_000_003, 7_654_321, 31**6
_NEW_SCHEME_FROM = np.datetime64("2016-01-01")
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
# historical resident-ID regions of Ningbo (江东区, 鄞县, 奉化市) besides today's divisions
_ID_REGIONS = (*(d[0] for d in words.DISTRICTS), "330204", "330227", "330283")
TRADE_CHARS = "".join(dict.fromkeys(words.TRADE_CHARS))


def stream(seed: int, chunk: int, name: str) -> np.random.Generator:
    """An independent random stream per (seed, chunk, purpose): adding a feed or changing how
    one feed draws never changes what the others generate."""
    return np.random.default_rng([seed, chunk, zlib.crc32(name.encode())])


@dataclass
class Entities:
    start: int
    gidx: np.ndarray
    kind: np.ndarray
    district: np.ndarray  # index into words.DISTRICTS
    industry: np.ndarray  # index into words.INDUSTRIES
    section: np.ndarray
    division: np.ndarray
    capital: np.ndarray
    established: np.ndarray  # datetime64[D]
    est_g: np.ndarray  # month number
    status: np.ndarray
    exit_g: np.ndarray  # month number of revocation/deregistration/move, NEVER if active
    z: np.ndarray  # latent size, N(0, 1)
    uscc: np.ndarray  # as issued (a few with a wrong check character)
    bad_check: np.ndarray
    name: list[str]
    town: np.ndarray
    rep_name: list[str]
    rep_id: list[str]

    def __len__(self) -> int:
        return len(self.gidx)


def body_values(gidx: np.ndarray, new_scheme: np.ndarray) -> np.ndarray:
    """Positions 9-17 (as alphabet values) for the given global indices."""
    n = len(gidx)
    out = np.zeros((n, 9), dtype=np.int64)
    old = (gidx * _OLD_MULT + _OLD_ADD) % _OLD_MOD
    digits = np.stack([(old // 10 ** (7 - i)) % 10 for i in range(8)], axis=1)
    c = 11 - (digits * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
    check = np.where(c == 10, _VALUES["X"], np.where(c == 11, 0, c))
    out[:, :8] = digits
    out[:, 8] = check
    new = (gidx * _NEW_MULT + _NEW_ADD) % _NEW_MOD
    tail = np.stack([(new // 31 ** (5 - i)) % 31 for i in range(6)], axis=1)
    new_body = np.concatenate([np.tile([_VALUES["M"], _VALUES["A"], 2], (n, 1)), tail], axis=1)
    return np.where(new_scheme[:, None], new_body, out)


_DISTRICT_DIGITS = np.array([[int(ch) for ch in d[0]] for d in words.DISTRICTS], dtype=np.int64)


def make_codes(
    gidx: np.ndarray, kind: np.ndarray, district: np.ndarray, new_scheme: np.ndarray
) -> np.ndarray:
    """Valid USCCs: 9 (market regulation), category 1/2/3, division, body, check."""
    n = len(gidx)
    vals = np.zeros((n, 18), dtype=np.int64)
    vals[:, 0] = 9
    vals[:, 1] = kind + 1
    vals[:, 2:8] = _DISTRICT_DIGITS[district]
    vals[:, 8:17] = body_values(gidx, new_scheme)
    vals[:, 17] = (31 - (vals[:, :17] * _WEIGHTS).sum(axis=1) % 31) % 31
    chars = np.ascontiguousarray(_ALPHA[vals])
    return chars.view("<U18").reshape(n)


def unknown_codes(entities: int, count: int, rng: np.random.Generator) -> list[str]:
    """Valid USCCs guaranteed absent from a registry of ``entities`` entities."""
    gidx = entities + 1_000 + np.arange(count, dtype=np.int64)
    district = rng.integers(0, len(words.DISTRICTS), count)
    kind = rng.integers(0, 2, count)
    return [str(c) for c in make_codes(gidx, kind, district, np.ones(count, dtype=bool))]


def _nice(x: np.ndarray, rng: np.random.Generator, unit: float) -> np.ndarray:
    """Registered capital as people choose it: mostly 1/2/3/5/8 x 10^k, else whole units."""
    mag = 10 ** np.floor(np.log10(np.maximum(x, unit)))
    lead = np.array([1, 2, 3, 5, 8])[np.searchsorted([1.5, 2.5, 4, 6.5], x / mag)]
    nice = lead * mag
    plain = np.maximum(np.round(x / unit), 1) * unit
    return np.where(rng.random(len(x)) < 0.7, np.maximum(nice, unit), plain)


def generate(
    cal: Calendar, *, seed: int, chunk: int, start: int, n: int, dirt: bool, seen: set[str]
) -> Entities:
    rng = stream(seed, chunk, "registry")
    gidx = np.arange(start, start + n, dtype=np.int64)
    kind = rng.choice(3, size=n, p=KIND_SHARES).astype(np.int8)
    district = rng.choice(10, size=n, p=[d[2] for d in words.DISTRICTS]).astype(np.int8)
    industry = np.empty(n, dtype=np.int16)
    for k in range(3):
        w = np.array([row[3 + k] for row in words.INDUSTRIES], dtype=float)
        sel = kind == k
        industry[sel] = rng.choice(len(w), size=int(sel.sum()), p=w / w.sum())
    section = np.array([row[1] for row in words.INDUSTRIES])[industry]
    division = np.array([row[0] for row in words.INDUSTRIES])[industry]

    # establishment: exponential growth of registrations; cooperatives exist since 2007
    end_day = (np.datetime64(cal.end_label, "M") + 1).astype("datetime64[D]") - 1
    t0 = np.where(kind == COOPERATIVE, np.datetime64("2007-07-01"), np.datetime64("1985-01-01"))
    rate = np.array([0.085, 0.10, 0.05])[kind] / 365.25
    span = (end_day - t0).astype(np.int64)
    u = rng.random(n)
    days = np.log1p(u * np.expm1(rate * span)) / rate
    established = t0 + np.minimum(days.astype(np.int64), span)
    est_g = established.astype("datetime64[M]").astype(np.int64) + 1970 * 12

    z = rng.standard_normal(n)
    e = rng.standard_normal(n)
    mix = 0.65 * z + 0.76 * e
    cap = np.select(
        [kind == ENTERPRISE, kind == INDIVIDUAL],
        [np.exp(np.log(1e6) + 1.3 * mix), np.exp(np.log(3e4) + 0.9 * mix)],
        np.exp(np.log(5e5) + 1.0 * mix),
    )
    capital = np.where(kind == INDIVIDUAL, _nice(cap, rng, 1e3), _nice(cap, rng, 1e4))
    capital = np.minimum(capital, 5e10)

    # status: most active; exits spread over the last five years
    exited = rng.random(n) < np.array([0.10, 0.07, 0.10])[kind]
    exited &= est_g < cal.end - 1
    status = np.where(exited, rng.choice([1, 2, 3], size=n, p=[0.3, 0.55, 0.15]), 0).astype(np.int8)
    lo = np.maximum(est_g + 1, cal.end - 59)
    exit_g = np.where(exited, lo + (rng.random(n) * (cal.end + 1 - lo)).astype(np.int64), NEVER)

    codes = make_codes(gidx, kind, district, established >= _NEW_SCHEME_FROM)
    bad = np.zeros(n, dtype=bool)
    if dirt:
        bad = rng.random(n) < 0.0015
        if chunk == 0 and not bad.any():
            bad[rng.integers(0, n)] = True
        for i in np.flatnonzero(bad):
            shift = int(rng.integers(1, 31))
            codes[i] = codes[i][:17] + uscc.ALPHABET[(_VALUES[codes[i][17]] + shift) % 31]

    ntowns = np.array([len(words.TOWNS[d[0]]) for d in words.DISTRICTS])
    town = (rng.random(n) * ntowns[district]).astype(np.int16)
    rep_name = _person_names(rng, n)
    rep_id = _resident_ids(rng, established, district)
    year = established.astype("datetime64[Y]").astype(np.int64) + 1970
    name = _entity_names(rng, kind, district, industry, town, rep_name, z, capital, year, seen)
    return Entities(
        start=start,
        gidx=gidx,
        kind=kind,
        district=district,
        industry=industry,
        section=section,
        division=division,
        capital=capital,
        established=established,
        est_g=est_g,
        status=status,
        exit_g=exit_g,
        z=z,
        uscc=codes,
        bad_check=bad,
        name=name,
        town=town,
        rep_name=rep_name,
        rep_id=rep_id,
    )


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    sur = rng.integers(0, len(words.SURNAMES), n)
    g1 = rng.integers(0, len(words.GIVEN_CHARS), n)
    g2 = rng.integers(0, len(words.GIVEN_CHARS), n)
    two = rng.random(n) < 0.7
    s, g = words.SURNAMES, words.GIVEN_CHARS
    return [s[a] + g[b] + (g[c] if t else "") for a, b, c, t in zip(sur, g1, g2, two, strict=True)]


def _resident_ids(
    rng: np.random.Generator, established: np.ndarray, district: np.ndarray
) -> list[str]:
    n = len(established)
    own = rng.random(n) < 0.75
    regions = np.array([int(c) for c in _ID_REGIONS], dtype=np.int64)
    own_region = np.array([int(d[0]) for d in words.DISTRICTS], dtype=np.int64)[district]
    region = np.where(own, own_region, regions[rng.integers(0, len(regions), n)])
    age_days = (rng.uniform(21, 58, n) * 365.25).astype(np.int64)
    birth = np.maximum(established - age_days, np.datetime64("1935-01-01"))
    y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    m = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    first = region * 10**11 + (y * 10_000 + m * 100 + d) * 1_000 + rng.integers(1, 1000, n)
    digits = np.stack([(first // 10 ** (16 - i)) % 10 for i in range(17)], axis=1)
    checks = np.array(list("10X98765432"))[(digits * _ID_WEIGHTS).sum(axis=1) % 11]
    return [f"{a:017d}{c}" for a, c in zip(first.tolist(), checks.tolist(), strict=True)]


def _trade_names(rng: np.random.Generator, n: int) -> list[str]:
    chars = np.array(list(TRADE_CHARS))
    picks = chars[rng.integers(0, len(chars), (n, 3))]
    three = rng.random(n) < 0.15
    two = np.char.add(picks[:, 0], picks[:, 1])
    return [str(s) for s in np.where(three, np.char.add(two, picks[:, 2]), two)]


def _entity_names(
    rng: np.random.Generator,
    kind: np.ndarray,
    district: np.ndarray,
    industry: np.ndarray,
    town: np.ndarray,
    owner: list[str],
    z: np.ndarray,
    capital: np.ndarray,
    year: np.ndarray,
    seen: set[str],
) -> list[str]:
    """Names drawn in bulk; a name already taken is drawn again until it is free."""
    todo = np.arange(len(kind))
    names: list[str] = [""] * len(kind)
    for _attempt in range(60):
        if not len(todo):
            return names
        draws = _draw_names(
            rng,
            kind[todo],
            district[todo],
            industry[todo],
            town[todo],
            [owner[i] for i in todo],
            z[todo],
            capital[todo],
            year[todo],
        )
        retry = []
        for i, name in zip(todo.tolist(), draws, strict=True):
            if name in seen:
                retry.append(i)
            else:
                seen.add(name)
                names[i] = name
        todo = np.array(retry, dtype=np.int64)
    raise RuntimeError("could not find free entity names")  # pragma: no cover


def _draw_names(
    rng: np.random.Generator,
    kind: np.ndarray,
    district: np.ndarray,
    industry: np.ndarray,
    town: np.ndarray,
    owner: list[str],
    z: np.ndarray,
    capital: np.ndarray,
    year: np.ndarray,
) -> list[str]:
    m = len(kind)
    trade = _trade_names(rng, m)
    r = rng.random((m, 5))
    out = []
    for j in range(m):
        code, place, _, urban = words.DISTRICTS[district[j]]
        row = words.INDUSTRIES[industry[j]]
        if kind[j] == ENTERPRISE:
            word = row[6][int(r[j, 1] * len(row[6]))]
            if capital[j] >= 5e7 and r[j, 2] < 0.6:
                suffix = "股份有限公司"
            elif row[1] == "C" and r[j, 2] > 0.96:
                suffix = "厂"
            else:
                suffix = "有限责任公司" if r[j, 3] < 0.06 else "有限公司"
            if r[j, 0] < 0.5:
                name = "宁波" + trade[j] + word + suffix
            elif r[j, 0] < 0.7:
                name = ("宁波市" + place if urban else place) + trade[j] + word + suffix
            elif r[j, 0] < 0.8:
                name = ("浙江" if z[j] > 0.3 else "宁波") + trade[j] + word + suffix
            else:
                name = trade[j] + "（宁波）" + word + suffix
        elif kind[j] == INDIVIDUAL:
            shops = row[7] or ("经营部",)
            who = owner[j] if r[j, 0] < 0.5 else trade[j]
            prefix = "宁波市" + place if urban and r[j, 2] < 0.3 else place
            tail = "（个体工商户）" if year[j] >= 2022 and r[j, 3] < 0.6 else ""
            name = prefix + who + shops[int(r[j, 1] * len(shops))] + tail
        else:
            stem = words.TOWNS[code][town[j]].removesuffix("街道").removesuffix("镇")
            who = stem if r[j, 0] < 0.5 else trade[j]
            product = words.COOP_PRODUCTS[int(r[j, 1] * len(words.COOP_PRODUCTS))]
            name = place + who + product + "专业合作社"
        out.append(name)
    return out


def registry_frame(ents: Entities) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uscc": ents.uscc.tolist(),
            "name": ents.name,
            "entity_kind": np.array(KIND_NAMES)[ents.kind].tolist(),
            "district": [words.DISTRICTS[i][0] for i in ents.district],
            "industry_section": ents.section.tolist(),
            "industry_division": ents.division.tolist(),
            "registered_capital": ents.capital.astype(np.int64),
            "established": np.datetime_as_string(ents.established, unit="D").tolist(),
            "status": np.array(STATUS_NAMES)[ents.status].tolist(),
            "legal_rep_name": ents.rep_name,
            "legal_rep_id": ents.rep_id,
        }
    )
