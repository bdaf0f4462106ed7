"""Chinese personal names that match the person's gender and generation.

Faker's zh_CN provider draws given names without regard to gender, which shows at once on a
customer screen (a man called 秀英). Given names here come in lists by gender and by the decade
people were typically given them; surnames still come from Faker, which weights them realistically.
"""
from __future__ import annotations

import random

GIVEN = {
    ("M", "classic"): ("建国", "建华", "国强", "志强", "建军", "永强", "德华", "国庆", "卫东", "振华",
                       "伟", "强", "军", "勇", "刚", "平", "明", "华", "斌", "林"),
    ("M", "middle"): ("伟", "磊", "杰", "涛", "超", "鹏", "辉", "飞", "波", "鑫", "海涛", "俊杰",
                      "明辉", "志明", "晓东", "文斌", "永刚", "立新", "建平", "海峰"),
    ("M", "modern"): ("子轩", "浩然", "宇航", "梓豪", "博文", "一鸣", "文博", "家豪", "晨阳", "浩宇",
                      "俊熙", "思远", "天佑", "宇", "浩", "睿", "昊", "轩", "泽宇", "子墨"),
    ("F", "classic"): ("秀英", "桂英", "秀兰", "玉兰", "淑珍", "凤英", "桂兰", "玉珍", "秀珍", "美华",
                       "丽华", "淑英", "玉梅", "红梅", "翠兰", "桂芳", "素芳", "玉华", "兰英", "芳"),
    ("F", "middle"): ("丽", "敏", "静", "燕", "艳", "霞", "红", "娟", "芳", "玲", "海燕", "晓红",
                      "丽娟", "晓燕", "雪梅", "春燕", "莉", "萍", "丹", "琳"),
    ("F", "modern"): ("欣怡", "梓涵", "雨桐", "诗琪", "佳怡", "思雨", "雅婷", "子萱", "若曦", "一诺",
                      "佳琪", "婷", "颖", "倩", "晶", "雪", "可馨", "语嫣", "梦瑶", "心怡"),
}


def generation(birth_year: int) -> str:
    if birth_year < 1970:
        return "classic"
    if birth_year < 1990:
        return "middle"
    return "modern"


def given_name(rng: random.Random, gender: str, birth_year: int) -> str:
    """A given name typical for ``gender`` and (mostly) for the birth year's generation."""
    era = generation(birth_year)
    if rng.random() < 0.2:
        era = rng.choice(("classic", "middle", "modern"))
    return rng.choice(GIVEN[(gender, era)])
