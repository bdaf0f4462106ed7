"""Twelve months of transactions per customer, simulated so that balances stay consistent.

Events are planned first (salary on the same day each month, pension, loan and card repayments,
quarterly interest, random spending and transfers, occasional wealth purchases and redemptions)
and then replayed in time order against the demand deposit's balance: an outflow larger than the
balance is cut down or dropped, so the balance never goes negative and the final balance is what
the account row shows. Churn is visible in the data the way it shows in a real bank: a leaver's
salary stops, their activity thins out, large transfers move money to another bank, investments
are redeemed and the account is emptied on the day it is closed.
"""
from __future__ import annotations

import datetime as dt
import math
import random

from backoffice.demo.holdings import Holdings, money
from backoffice.demo.people import CENT, Profile
from backoffice.demo.timeline import Timeline

MERCHANTS_POS = ("苏果超市", "华润万家", "盒马鲜生", "星巴克", "肯德基", "中石化加油站",
                 "金鹰购物中心", "德基广场", "新街口百货", "永辉超市", "瑞幸咖啡", "大润发",
                 "鼓楼医院门诊", "海底捞")
MERCHANTS_ONLINE = ("京东商城", "淘宝", "天猫", "拼多多", "美团", "饿了么", "携程旅行",
                    "12306铁路", "滴滴出行", "抖音电商")
BILLS = ("国网江苏省电力南京供电公司", "南京水务集团", "中国移动", "中国电信", "南京港华燃气",
         "物业服务中心")
OTHER_BANKS = ("工商银行", "建设银行", "农业银行", "中国银行", "招商银行", "交通银行",
               "南京银行", "江苏银行")
PENSION_PAYER = "南京市社会保险管理中心"
QUARTER_MONTHS = (3, 6, 9, 12)
DEMAND_RATE_QUARTER = 0.0005 / 4  # 0.05% a year, settled quarterly on the 21st

# Local-time windows (seconds after midnight) per channel.
HOURS = {"pos": (8 * 3600, 22 * 3600), "atm": (7 * 3600, 23 * 3600),
         "counter": (9 * 3600, 17 * 3600), "mobile": (7 * 3600, 24 * 3600 - 1),
         "online": (7 * 3600, 24 * 3600 - 1), "batch": (1 * 3600, 6 * 3600)}

# Event codes: how the amount is resolved when the event is replayed.
FIXED, FRACTION, DRAIN_ALL, INTEREST, BUY, CARD_REPAY, MUST_PAY = range(7)
_TZ_SECONDS = 8 * 3600  # local (UTC+8) to UTC


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; the rates here are small (< 30)."""
    if lam <= 0:
        return 0
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _open_on(account: dict, day: dt.date) -> bool:
    return account["closed_on"] is None or day < account["closed_on"]


class Activity:
    """Plans and replays one customer's year; ``rows`` are the transaction rows."""

    def __init__(self, rng: random.Random, tl: Timeline, names: list[str], companies: list[str],
                 tx_per_month: float):
        self.rng, self.tl, self.tx_per_month = rng, tl, tx_per_month
        self.names, self.companies = names, companies

    # -- planning -------------------------------------------------------------------------
    def _level(self, p: Profile, day: dt.date) -> float:
        if p.segment == "leaver":
            if day < p.decline_start:
                return 1.0
            x = (day - p.decline_start).days / max(1, (p.closed_on - p.decline_start).days)
            return max(0.03, (1 - x) ** 2.5)
        if p.segment == "decliner":
            if day < p.decline_start:
                return 1.0
            x = (day - p.decline_start).days / max(1, (self.tl.today - p.decline_start).days)
            return max(0.2, (1 - x) ** 1.5)
        if p.segment == "dormant":
            return 0.3 if day < p.dormant_since else 0.0
        return 1.0

    def _salary_until(self, p: Profile) -> dt.date:
        rng = self.rng
        if p.segment == "leaver":  # the salary account moved to the other bank first
            return p.decline_start + dt.timedelta(days=rng.randint(0, 30))
        if p.segment == "decliner" and rng.random() < 0.6:
            return p.decline_start + dt.timedelta(days=rng.randint(10, 40))
        if p.segment == "dormant":
            return p.dormant_since
        return self.tl.today + dt.timedelta(days=1)

    def simulate(self, p: Profile, h: Holdings, ids) -> list[dict]:
        """Transaction rows for ``p``; sets the demand (and card) balances on ``h``'s rows."""
        if self.tx_per_month <= 0:
            if p.closed_on is None:
                h.demand["balance"] = money(max(0, h.demand_target))
            return []
        rng, tl = self.rng, self.tl
        events: list[tuple] = []
        random_ = rng.random
        demand_id = h.demand["id"]
        card_id = h.card["id"] if h.card else None
        elderly = p.age >= 65
        corporate = p.kind == "corporate"

        def add(day: dt.date, channel: str, code: int, value, account: int, ttype: str,
                direction: str, counterparty: str | None, description: str, hours=None):
            low, high = HOURS[hours or channel]
            seconds = low + int(random_() * (high - low)) - _TZ_SECONDS
            ts = dt.datetime.fromordinal(day.toordinal()) + dt.timedelta(seconds=seconds)
            events.append((ts, len(events), code, value, account, channel, ttype, direction,
                           counterparty, description))

        active_from = max(tl.start, p.onboarded_on, h.demand["opened_on"])
        last_day = p.closed_on - dt.timedelta(days=1) if p.closed_on else tl.today
        salary_until = self._salary_until(p)
        fixed = 0.33 + (1 if p.income else 0) + (1 if h.loan else 0) + (1 if h.card else 0)
        invests = bool(h.investments) or p.wealth >= 50_000 * CENT
        fixed += 0.3 if invests else 0
        base = self.tx_per_month * (2 if corporate else 1)
        lam_month = max(0.4, base - fixed)
        if corporate:  # business receipts and payments, no card spending
            medians = (0, 0.6 * p.income / (0.55 * lam_month) / 1.65,
                       p.income / (0.45 * lam_month) / 1.4)
        else:
            spend = max(2_000, 0.8 * p.spend_power / (1.14 * lam_month) / 1.65)
            receipts = spend * 2 if p.income else 0.8 * p.spend_power / (0.15 * lam_month) / 1.5
            medians = (spend, spend * 3, max(10_000, receipts))
        sms_fee = p.seq % 7 == 0
        for period in tl.periods:
            start, end = max(period.start, active_from), min(period.end, last_day)
            if start > end:
                continue
            span = (end - start).days + 1
            level = p.activity * self._level(p, start + dt.timedelta(days=span // 2))

            def on(day_of_month: int) -> dt.date | None:
                day = period.day_numbered(day_of_month)
                return day if start <= day <= end else None

            day = on(p.salary_day)
            if day and p.income and day < salary_until:
                if corporate:
                    add(day, "online", FIXED, p.income * 3 // 10 // 100 * 100, demand_id,
                        "transfer_out", "out", "员工工资代发", "代发工资", "batch")
                elif p.occ_class == "employed":
                    amount = int(p.income * rng.uniform(0.97, 1.03)) // 100 * 100
                    if day.month == 1 and rng.random() < 0.5:
                        amount *= 2  # year-end bonus
                    add(day, "online", FIXED, amount, demand_id, "salary", "in", p.employer,
                        "代发工资", "batch")
                else:
                    add(day, "online", FIXED, p.income, demand_id, "transfer_in", "in",
                        PENSION_PAYER, "养老金发放", "batch")
            if h.loan and (day := on(min(28, p.salary_day + 3))) and _open_on(h.loan[0], day):
                row, name, payment = h.loan
                add(day, "online", MUST_PAY, payment, demand_id, "loan_repayment", "out", name,
                    "贷款按月还款", "batch")
            if card_id and (day := on(8)) and _open_on(h.card, day):
                add(day, "online", CARD_REPAY, 0, demand_id, "transfer_out", "out",
                    "本行信用卡中心", "信用卡自动还款", "batch")
            if (day := on(21)) and day.month in QUARTER_MONTHS:
                add(day, "online", INTEREST, 0, demand_id, "interest", "in", None,
                    "活期结息", "batch")
            if sms_fee and (day := on(26)) and day.month in QUARTER_MONTHS:
                add(day, "online", FIXED, 600, demand_id, "fee", "out", None,
                    "短信通知服务费", "batch")
            if invests and rng.random() < 0.3 * level * span / period.days:
                day = start + dt.timedelta(days=rng.randrange(span))
                channel = "counter" if elderly and rng.random() < 0.6 else "mobile"
                if h.investments and rng.random() < 0.4:
                    _row, name, held = rng.choice(h.investments)
                    amount = int(held * rng.uniform(0.1, 0.5)) // 100_000 * 100_000
                    if amount:
                        add(day, channel, FIXED, amount, demand_id, "wealth_redemption", "in",
                            name, "理财赎回到账")
                else:
                    name = rng.choice(h.investments)[1] if h.investments else "天天利现金管理"
                    add(day, channel, BUY, rng.uniform(0.1, 0.4), demand_id, "wealth_purchase",
                        "out", name, "购买理财产品")
            count = poisson(rng, lam_month * level * span / period.days)
            for _ in range(count):
                day = start + dt.timedelta(days=rng.randrange(span))
                self._random_event(add, day, demand_id, card_id, medians, elderly, corporate)
        self._churn_events(add, p, h, demand_id, card_id, active_from)
        return self._replay(p, h, events, ids)

    def _random_event(self, add, day, demand_id, card_id, medians, elderly, corporate):
        """One spending, transfer out or transfer in, on channels that fit the customer."""
        rng = self.rng
        spend_median, out_median, in_median = medians
        draw = rng.random()
        kind = ("in" if draw < 0.45 else "out") if corporate else (
            "spend" if draw < 0.70 else "out" if draw < 0.86 else "in")
        if kind == "spend":
            amount = max(100, int(rng.lognormvariate(math.log(spend_median), 0.9)))
            pick = rng.random()
            if elderly:
                channel = "pos" if pick < 0.4 else "atm" if pick < 0.7 else (
                    "counter" if pick < 0.9 else "mobile")
            else:
                channel = "pos" if pick < 0.4 else "mobile" if pick < 0.65 else (
                    "online" if pick < 0.85 else "atm")
            if channel in ("atm", "counter"):
                amount = max(10_000, amount // 10_000 * 10_000)
                add(day, channel, FIXED, amount, demand_id, "spending", "out", None,
                    "ATM取款" if channel == "atm" else "柜面取现")
                return
            if channel == "pos":
                merchant = rng.choice(MERCHANTS_POS)
            elif channel == "mobile" and rng.random() < 0.3:
                merchant = rng.choice(BILLS)
            else:
                merchant = rng.choice(MERCHANTS_ONLINE)
            on_card = card_id and channel != "mobile" and rng.random() < 0.5
            add(day, channel, FIXED, amount, card_id if on_card else demand_id, "spending",
                "out", merchant, f"消费-{merchant}")
        elif kind == "out":
            amount = max(100, int(rng.lognormvariate(math.log(out_median), 1.0)) // 100 * 100)
            channel = "counter" if elderly and rng.random() < 0.5 else rng.choice(
                ("mobile", "mobile", "online"))
            counterparty = rng.choice(self.names)
            purpose = rng.choice(("转账", "房租", "家用", "还款", "红包"))
            if corporate:
                counterparty, purpose = rng.choice(self.companies), "货款"
            add(day, channel, FIXED, amount, demand_id, "transfer_out", "out", counterparty,
                purpose)
        else:
            amount = max(100, int(rng.lognormvariate(math.log(in_median), 0.8)) // 100 * 100)
            channel = rng.choice(("mobile", "online"))
            source = rng.random()
            if corporate:
                counterparty = rng.choice(self.companies)
            elif source < 0.6:
                counterparty = rng.choice(self.names)
            else:
                counterparty = ("支付宝(中国)网络技术有限公司" if source < 0.8
                                else "财付通支付科技有限公司")
            add(day, channel, FIXED, amount, demand_id, "transfer_in", "in", counterparty,
                "货款" if corporate else "转入")

    def _churn_events(self, add, p: Profile, h: Holdings, demand_id, card_id, active_from):
        """Money leaving for another bank while a customer slides towards leaving."""
        if p.decline_start is None:
            return
        rng, tl = self.rng, self.tl
        bank = rng.choice(OTHER_BANKS)
        end = p.closed_on or tl.today
        first = p.decline_start + dt.timedelta(days=rng.randint(0, 10))
        for day in (first, first + dt.timedelta(days=rng.randint(30, 45))):
            second_ok = day == first or rng.random() < 0.6
            if active_from <= day < end - dt.timedelta(days=3) and second_ok:
                add(day, "mobile", FRACTION, rng.uniform(0.3, 0.6), demand_id, "transfer_out",
                    "out", f"本人{bank}账户", "转至他行")
        if p.closed_on is None:
            return
        for row, name, held in h.investments:
            if row["closed_on"] >= active_from and held > 0:
                add(row["closed_on"], "counter", FIXED, held, demand_id, "wealth_redemption",
                    "in", name, "提前赎回/到期兑付")
        if card_id:
            add(p.closed_on - dt.timedelta(days=1), "counter", CARD_REPAY, 0, demand_id,
                "transfer_out", "out", "本行信用卡中心", "信用卡结清")
        add(p.closed_on, "counter", DRAIN_ALL, 0, demand_id, "transfer_out", "out",
            f"本人{bank}账户", "销户转出")

    # -- replay ---------------------------------------------------------------------------
    def _replay(self, p: Profile, h: Holdings, events: list[tuple], ids) -> list[dict]:
        rng = self.rng
        events.sort(key=lambda e: (e[0], e[1]))
        planned_in = sum(e[3] for e in events if e[2] == FIXED and e[7] == "in")
        planned_out = sum(e[3] for e in events if e[2] in (FIXED, MUST_PAY) and e[7] == "out")
        target = max(0, h.demand_target)
        balance = max(target - planned_in + planned_out, p.spend_power // 2, 0)
        card_owed = 0
        card_id = h.card["id"] if h.card else None
        rows = []
        now = self.tl.now  # nothing later than the demo's "now" on ``today``
        for ts, _n, code, value, account, channel, ttype, direction, cp, desc in events:
            if ts > now:
                continue
            if code == FIXED or code == MUST_PAY:
                amount = value
            elif code == FRACTION or code == BUY:
                amount = int(balance * value)
                if code == BUY:
                    amount = amount // 100_000 * 100_000  # whole thousands of yuan
            elif code == DRAIN_ALL:
                amount = balance
            elif code == INTEREST:
                amount = int(balance * DEMAND_RATE_QUARTER)
            else:  # CARD_REPAY
                amount = min(card_owed, balance)
            if account == card_id:
                card_owed += amount
            elif direction == "in":
                balance += amount
            else:
                if amount > balance:
                    if code == MUST_PAY:
                        continue  # a missed instalment
                    amount = int(balance * rng.uniform(0.3, 0.8))
                if amount < 1 or (amount < 100 and code != DRAIN_ALL):
                    continue
                balance -= amount
                if code == CARD_REPAY:
                    card_owed -= amount
            if amount < 1:
                continue
            rows.append({
                "id": ids.take("transaction"), "account_id": account, "customer_id": p.id,
                "occurred_at": ts, "amount": money(amount), "direction": direction,
                "channel": channel, "type": ttype, "counterparty": cp, "description": desc,
            })
        if p.closed_on is None:
            h.demand["balance"] = money(balance)
            if h.card:
                h.card["balance"] = money(card_owed)
        return rows
