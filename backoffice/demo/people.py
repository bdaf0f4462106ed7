"""Who the customers are: identity, life stage, wealth, and the story the year tells about them.

A customer's ``segment`` drives everything generated later: ``normal`` customers keep steady
activity, ``dormant`` ones fell silent months ago, ``decliner``s are still active but slipping
(what a churn warning should catch), and ``leaver``s slipped and then closed in the last three
months. Wealth is log-normal so that a few customers are private-banking sized (>= 6,000,000 CNY),
some are wealth-management sized (>= 500,000) and most hold modest savings.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import Decimal

from backoffice.demo import identity
from backoffice.demo.names import given_name
from backoffice.demo.timeline import Timeline, local_to_utc

# (lowest age, highest age, share) of individual customers.
AGE_BANDS = ((18, 25, 10), (26, 35, 22), (36, 45, 21), (46, 55, 18), (56, 64, 13),
             (65, 75, 11), (76, 90, 5))
EMPLOYED = (("企业职员", 8000), ("公务员", 10000), ("教师", 9000), ("医生", 15000),
            ("护士", 8000), ("工程师", 14000), ("软件工程师", 20000), ("会计", 8000),
            ("销售经理", 12000), ("律师", 18000), ("公司高管", 40000), ("技术工人", 7000),
            ("事业单位职员", 9000), ("快递员", 7500))
SELF_EMPLOYED = (("个体工商户", 12000), ("私营企业主", 35000), ("自由职业者", 9000))
INDUSTRIES = (("制造业", "机械制造有限公司"), ("批发零售", "商贸有限公司"),
              ("信息技术", "科技有限公司"), ("建筑业", "建设工程有限公司"),
              ("餐饮", "餐饮管理有限公司"), ("物流", "物流有限公司"), ("医药", "医药有限公司"))
ELDERLY_NOTES = ("老年客户,办理业务请放慢语速并耐心解释。", "听力不佳,建议当面或书面沟通。",
                 "子女常陪同办理业务,涉及大额转账需核实本人意愿。")
DISABILITY_NOTES = ("行动不便,需无障碍通道协助。", "视力障碍,需协助阅读合同条款。")
SEGMENT_SHARES = (("leaver", 0.08), ("dormant", 0.06), ("decliner", 0.04))
FAMILY_NOTES = ("已婚,育有一子,在读高中,计划出国留学。", "配偶为公务员,家庭收入稳定,父母同住。",
                "子女已成年并在外地工作,关注养老规划。", "家族企业二代,关注财富传承与隔离。")
INVESTMENT_NOTES = ("偏好稳健型理财,可接受一年以内封闭期。", "持有较多权益类基金,关注市场回撤。",
                    "对私募与信托产品有兴趣,需合格投资者认定。", "主要资产为房产,流动性需求较高。")
PRIVATE_SHARE = 0.001
CORPORATE_SHARE = 0.05
CENT = 100


@dataclass(slots=True)
class Profile:
    """What later steps need to know about a customer beyond its row."""

    id: int
    seq: int
    kind: str
    age: int
    occ_class: str  # employed, self, retired, student, none, corporate
    income: int  # cents per month of salary / pension / business inflow; 0 if none
    spend_power: int  # cents per month the customer typically spends
    wealth: int  # cents of planned assets (deposits + investments)
    risk: int  # 1..5, the C-level
    branch_id: int
    owner_id: int
    teller_id: int | None
    onboarded_on: dt.date
    segment: str
    closed_on: dt.date | None
    decline_start: dt.date | None
    dormant_since: dt.date | None
    activity: float
    salary_day: int
    employer: str | None
    birth: dt.date | None


def _age(rng: random.Random) -> int:
    low, high, _share = rng.choices(AGE_BANDS, weights=[b[2] for b in AGE_BANDS])[0]
    return rng.randint(low, high)


def _occupation(rng: random.Random, age: int) -> tuple[str, str, int]:
    """(occupation label, class, monthly income in yuan) for an individual of ``age``."""
    draw = rng.random()
    if age < 23 and draw < 0.6:
        return "学生", "student", 0
    if age >= 65 or (age >= 60 and draw < 0.6):
        if draw > 0.95:
            label, income = rng.choice(SELF_EMPLOYED)
            return label, "self", income
        return "退休人员", "retired", rng.choice((3200, 4000, 5200, 6800))
    draw = rng.random()
    if draw < 0.76:
        label, income = rng.choice(EMPLOYED)
        return label, "employed", income
    if draw < 0.90:
        label, income = rng.choice(SELF_EMPLOYED)
        return label, "self", income
    return rng.choice(("家庭主妇", "待业", "灵活就业")), "none", 0


def _risk_level(rng: random.Random, age: int, wealth: int) -> int:
    if age >= 65:
        weights = (35, 40, 20, 5, 0)
    elif wealth >= 500_000 * CENT:
        weights = (5, 20, 35, 28, 12)
    else:
        weights = (15, 30, 30, 18, 7)
    return rng.choices((1, 2, 3, 4, 5), weights=weights)[0]


def _segment(rng: random.Random) -> str:
    draw = rng.random()
    for name, share in SEGMENT_SHARES:
        if draw < share:
            return name
        draw -= share
    return "normal"


def _wealth(rng: random.Random, seq: int, base: float) -> int:
    """Planned assets in cents: log-normal around ``base`` yuan, with a private-banking tail."""
    if seq % 500 == 1 or rng.random() < PRIVATE_SHARE:
        return int(6_100_000 * math.exp(abs(rng.gauss(0, 0.7))) * CENT)
    return int(min(rng.lognormvariate(math.log(base), 1.35), 5_500_000) * CENT)


class PeopleFactory:
    """Turns a sequence number into a customer row plus its ``Profile``."""

    def __init__(self, rng: random.Random, fake, org, timeline: Timeline):
        self.rng, self.fake, self.org, self.tl = rng, fake, org, timeline
        self.ids = identity.PrcIdFactory(rng)
        self.mobile_offset = rng.randrange(10**8)
        self.employers = [
            f"南京{fake.company_prefix()}{rng.choice(INDUSTRIES)[1]}" for _ in range(400)
        ]

    def make(self, customer_id: int, seq: int) -> tuple[dict, Profile]:
        rng, fake, tl, org = self.rng, self.fake, self.tl, self.org
        today = tl.today
        corporate = rng.random() < CORPORATE_SHARE
        branch_id = rng.choices(org.branch_ids, weights=org.branch_weights)[0]
        district = org.branch_district[branch_id] if rng.random() < 0.6 else None
        segment = _segment(rng)
        if corporate:
            industry, suffix = rng.choice(INDUSTRIES)
            name = f"南京{fake.company_prefix()}{suffix}"
            gender = birth = None
            age, occupation, occ_class = 0, industry, "corporate"
            income = int(rng.lognormvariate(math.log(300_000), 0.9)) * CENT
            spend_power = income
            wealth = _wealth(rng, seq, 800_000)
            id_type, id_number = "USCC", identity.uscc(rng)
            email = f"finance@{fake.domain_name()}"
            address = identity.office_address(rng, district)
            earliest = today - dt.timedelta(days=3650)
        else:
            gender = "M" if rng.random() < 0.5 else "F"
            age = _age(rng)
            birth = _years_before(today, age) - dt.timedelta(days=rng.randint(0, 364))
            name = fake.last_name() + given_name(rng, gender, birth.year)
            age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
            occupation, occ_class, monthly = _occupation(rng, age)
            income = int(monthly * rng.lognormvariate(0, 0.35)) * CENT
            spend_power = income or int(rng.uniform(1500, 4000)) * CENT
            age_factor = (0.3 if age <= 25 else 0.8 if age <= 35 else 1.3 if age <= 50
                          else 1.8 if age <= 64 else 1.6)
            wealth = _wealth(rng, seq, 15_000 * age_factor * (spend_power / 800_000) ** 0.7)
            id_type, id_number = "PRC_ID", self.ids.issue(birth, gender)
            email = fake.free_email() if rng.random() < 0.75 else None
            address = identity.home_address(rng, district)
            earliest = max(today - dt.timedelta(days=3650), _years_before(birth, -18))
        if segment != "normal" and earliest > today - dt.timedelta(days=540):
            segment = "normal"  # too new a customer (or too young) for a churn story
        if segment != "normal":  # churn stories need a history before the slide
            latest = today - dt.timedelta(days=540)
        else:
            latest = today
        onboarded = earliest + dt.timedelta(days=rng.randint(0, max(0, (latest - earliest).days)))
        closed_on = decline_start = dormant_since = None
        if segment == "leaver":
            closed_on = today - dt.timedelta(days=rng.randint(3, 88))
            decline_start = closed_on - dt.timedelta(days=rng.randint(70, 120))
        elif segment == "decliner":
            decline_start = today - dt.timedelta(days=rng.randint(45, 100))
        elif segment == "dormant":
            dormant_since = today - dt.timedelta(days=rng.randint(200, 330))
        risk = _risk_level(rng, age, wealth)
        assessed = max(onboarded, today - dt.timedelta(days=rng.randint(0, 1000)))
        rms = org.rms[branch_id]
        owner_id = rms[min(len(rms) - 1, int(len(rms) * rng.random() ** 1.3))]
        teller_id = rng.choice(org.tellers[branch_id]) if rng.random() < 0.35 else None
        elderly = age >= 65
        disability = not corporate and rng.random() < 0.012
        vip = wealth >= 500_000 * CENT
        notes = None
        if disability:
            notes = rng.choice(DISABILITY_NOTES)
        elif elderly and rng.random() < 0.4:
            notes = rng.choice(ELDERLY_NOTES)
        created = local_to_utc(onboarded, rng.randint(9 * 3600, 17 * 3600))
        touched = max(onboarded, assessed, closed_on or onboarded)
        updated = max(created, local_to_utc(touched, rng.randint(9 * 3600, 17 * 3600)))
        row = {
            "id": customer_id, "customer_no": f"C{customer_id:09d}", "name": name,
            "customer_type": "corporate" if corporate else "individual", "gender": gender,
            "birth_date": birth, "id_type": id_type, "id_number": id_number,
            "mobile": identity.mobile(rng, seq, self.mobile_offset), "email": email,
            "address": address, "occupation": occupation, "risk_tolerance": f"C{risk}",
            "risk_assessed_on": assessed, "consent_sms": rng.random() < 0.7,
            "consent_email": email is not None and rng.random() < 0.45,
            "consent_phone": rng.random() < 0.55, "consent_wechat": rng.random() < 0.5,
            "flag_elderly": elderly, "flag_disability": disability, "flag_vip": vip,
            "service_notes": notes, "owner_id": owner_id, "teller_id": teller_id,
            "branch_id": branch_id, "onboarded_on": onboarded,
            "status": {"leaver": "closed", "dormant": "dormant"}.get(segment, "active"),
            "closed_on": closed_on, "custom_fields": {}, "version": 1,
            # The deep profile (encrypted when loaded); no random draws, so the rest of the
            # stream, and every other value, is the same as without it.
            "annual_income": Decimal(income * 12) / CENT if income else None,
            "family_notes": FAMILY_NOTES[seq % len(FAMILY_NOTES)] if vip else None,
            "investment_notes": INVESTMENT_NOTES[seq % len(INVESTMENT_NOTES)] if vip else None,
            "created_at": created, "updated_at": updated,
        }
        profile = Profile(
            id=customer_id, seq=seq, kind=row["customer_type"], age=age, occ_class=occ_class,
            income=income if occ_class in ("employed", "retired", "corporate") else 0,
            spend_power=spend_power, wealth=wealth, risk=risk, branch_id=branch_id,
            owner_id=owner_id, teller_id=teller_id, onboarded_on=onboarded, segment=segment,
            closed_on=closed_on, decline_start=decline_start, dormant_since=dormant_since,
            activity=rng.lognormvariate(-0.08, 0.4), salary_day=rng.choice((5, 10, 15, 20, 25)),
            employer=rng.choice(self.employers) if occ_class == "employed" else None,
            birth=birth,
        )
        return row, profile


def _years_before(day: dt.date, years: int) -> dt.date:
    """``day`` moved back ``years`` years (forward if negative); 29 Feb becomes 1 Mar."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return dt.date(day.year - years, 3, 1)
