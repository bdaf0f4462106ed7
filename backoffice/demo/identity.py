"""Identifiers that must look real and pass the same validators as real data.

ID numbers, credit codes and account numbers are built with ``models.validators`` so demo rows
exercise exactly the checks that imports and forms apply. Mobiles and account numbers come from
a permutation of a sequence number, so they are unique without remembering what was issued
(memory stays flat at a million customers); ID numbers carry a date and an area, so uniqueness
there is kept with a compact set of integers.
"""
from __future__ import annotations

import datetime as dt
import random

from models.validators import luhn_check_digit, prc_id_check_digit, uscc_check_char

# The bank is in Nanjing: its districts (name, GB/T 2260 code) host the branches and most customers.
HOME_PROVINCE = "江苏省"
HOME_CITY = "南京市"
HOME_DISTRICTS = (
    ("玄武区", "320102"), ("秦淮区", "320104"), ("建邺区", "320105"), ("鼓楼区", "320106"),
    ("浦口区", "320111"), ("栖霞区", "320113"), ("雨花台区", "320114"), ("江宁区", "320115"),
    ("六合区", "320116"), ("溧水区", "320117"), ("高淳区", "320118"),
)
# County-level codes elsewhere in Jiangsu (people who moved to Nanjing) and across the country.
JIANGSU_AREAS = (
    "320205", "320206", "320302", "320411", "320505", "320506", "320703", "320802",
    "320902", "321002", "321102", "321202", "321302", "320583", "320684",
)
OTHER_AREAS = (
    "110101", "110105", "110108", "310104", "310115", "330106", "330108", "340104",
    "341202", "370102", "370202", "410105", "420106", "430104", "440106", "440305",
    "510107", "500103", "610113", "360102", "350203", "130102", "210102", "230103",
    "450103", "530102", "520102", "140105", "620102", "340202",
)
STREETS = (
    "中山路", "汉中路", "北京东路", "珠江路", "湖南路", "龙蟠路", "中央路", "应天大街",
    "江东中路", "集庆路", "太平南路", "广州路", "上海路", "虎踞路", "草场门大街", "雨花西路",
    "宁双路", "天元路", "双龙大道", "仙林大道", "学海路", "浦珠路", "云南路", "汉口路",
    "清凉门大街", "水西门大街", "龙江路", "迈皋桥路", "燕山路", "文靖路", "胜太路", "华侨路",
)
COMMUNITIES = (
    "阳光花园", "金陵家园", "翠屏城", "颐和南园", "龙江小区", "月牙湖花园", "南湖新村",
    "紫金苑", "锦绣花园", "莫愁新寓", "御水湾", "仙林新村", "天润城", "百家湖花园",
)
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177",
    "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199",
)
_USCC_ORG_CHARS = "0123456789" * 4 + "ABCDEFGHJKLMNPQRTUWXY"
_PERMUTE_8 = 7_654_321  # odd, not a multiple of 5: a bijection on 0..10^8-1
_PERMUTE_12 = 987_654_321_013  # likewise on 0..10^12-1
ACCOUNT_BIN = "621700"


def area_code(rng: random.Random) -> str:
    """A birth-place code: mostly Nanjing, some elsewhere in Jiangsu, some anywhere."""
    draw = rng.random()
    if draw < 0.62:
        return rng.choice(HOME_DISTRICTS)[1]
    if draw < 0.85:
        return rng.choice(JIANGSU_AREAS)
    return rng.choice(OTHER_AREAS)


class PrcIdFactory:
    """Issues distinct 18-digit resident ID numbers agreeing with birth date and gender."""

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._issued: set[int] = set()

    def issue(self, birth: dt.date, gender: str) -> str:
        head = area_code(self._rng) + birth.strftime("%Y%m%d")
        odd = 1 if gender == "M" else 0
        for _attempt in range(50):
            sequence = self._rng.randrange(500) * 2 + odd  # 17th digit odd for men
            first17 = f"{head}{sequence:03d}"
            key = int(first17)
            if key not in self._issued:
                self._issued.add(key)
                return first17 + prc_id_check_digit(first17)
            head = area_code(self._rng) + birth.strftime("%Y%m%d")
        raise RuntimeError("could not issue a distinct ID number")  # pragma: no cover


def uscc(rng: random.Random) -> str:
    """A Unified Social Credit Code of an enterprise (91...) registered in Nanjing."""
    first17 = "91" + rng.choice(HOME_DISTRICTS)[1] + "".join(
        rng.choice(_USCC_ORG_CHARS) for _ in range(9)
    )
    return first17 + uscc_check_char(first17)


def mobile(rng: random.Random, sequence: int, offset: int) -> str:
    """A mainland mobile number, distinct for distinct ``sequence`` (< 10^8) within one run."""
    return rng.choice(MOBILE_PREFIXES) + f"{(sequence * _PERMUTE_8 + offset) % 10**8:08d}"


def account_no(account_id: int) -> str:
    """A 19-digit, Luhn-valid card/account number, distinct for distinct account ids."""
    body = ACCOUNT_BIN + f"{(account_id * _PERMUTE_12 + 35_791) % 10**12:012d}"
    return body + luhn_check_digit(body)


def home_address(rng: random.Random, district: str | None = None) -> str:
    """A Nanjing street address in the usual province-city-district-street-building order."""
    district = district or rng.choice(HOME_DISTRICTS)[0]
    return (
        f"{HOME_PROVINCE}{HOME_CITY}{district}{rng.choice(STREETS)}{rng.randint(1, 399)}号"
        f"{rng.choice(COMMUNITIES)}{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元"
        f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
    )


def office_address(rng: random.Random, district: str | None = None) -> str:
    """A business address (no flat number)."""
    district = district or rng.choice(HOME_DISTRICTS)[0]
    return (
        f"{HOME_PROVINCE}{HOME_CITY}{district}{rng.choice(STREETS)}{rng.randint(1, 399)}号"
        f"{rng.randint(1, 28)}楼"
    )
