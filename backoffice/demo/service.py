"""Contacts with customers over the year and the follow-up tasks they left behind.

Topics fit their channel and direction (complaints come in by phone or at the branch, marketing
goes out by SMS or WeChat), satisfaction is missing where a channel cannot carry it, and the
customers who are slipping away complain more and rate lower: the signals a churn model and the
service screens are meant to surface. Follow-ups include open tasks both overdue and due soon, so
"my tasks" and reminders have something to show on day one.
"""
from __future__ import annotations

import datetime as dt
import random

from backoffice.demo.activity import poisson
from backoffice.demo.people import Profile
from backoffice.demo.timeline import Timeline, local_to_utc

SUMMARIES = {
    "inquiry": ("客户咨询{product}的收益和赎回规则,已详细说明。",
                "客户询问大额存单利率及起存金额。", "咨询手机银行转账限额的调整方法。",
                "客户了解{product}的风险等级与适合人群。"),
    "service": ("协助客户办理手机银行登录密码重置。", "为客户办理银行卡挂失及补办。",
                "客户更新预留手机号码和联系地址。", "协助客户完成风险承受能力重新评估。",
                "客户申请开立存款证明。"),
    "complaint": ("客户投诉网点排队等候时间过长。", "客户对{product}收益未达预期表示不满。",
                  "客户投诉信用卡年费未经告知扣收。", "客户反映手机银行转账失败且未及时退回。",
                  "客户投诉营销电话过多。", "客户对贷款审批进度缓慢不满。"),
    "marketing": ("向客户推荐{product},客户表示考虑。", "介绍新发行的{product},客户暂无意向。",
                  "邀请客户参加周末财富管理沙龙。", "推荐信用卡分期优惠活动。"),
    "loan_progress": ("告知客户贷款申请已进入审批环节。", "通知客户贷款已放款,提醒按时还款。",
                      "提醒客户补充收入证明材料。"),
    "greeting": ("生日问候,客户表示感谢。", "节日问候并告知网点营业时间调整。"),
    "other": ("回访客户近期业务办理体验。", "核实客户身份信息变更情况。"),
}
RETENTION_SUMMARY = ("挽留沟通:客户表示他行存款利率更高,计划转移资金。",
                     "挽留沟通:客户对近期服务不满,已转介支行行长跟进。",
                     "挽留沟通:客户工资卡已更换至他行,资金将陆续转出。")
# topic: (weight, direction, channels)
TOPICS = {
    "inquiry": (28, "inbound", ("phone", "branch", "wechat")),
    "service": (24, "inbound", ("branch", "phone")),
    "marketing": (22, "outbound", ("phone", "sms", "wechat", "email")),
    "other": (10, "outbound", ("phone", "branch")),
    "greeting": (8, "outbound", ("sms", "wechat", "phone")),
    "loan_progress": (5, "outbound", ("phone", "sms")),
    "complaint": (1.2, "inbound", ("phone", "branch", "wechat")),
}
NO_FEEDBACK = ("sms", "email")
TOPIC_TASK = {"complaint": ("complaint_resolution", "处理客户投诉", 3, 1.0),
              "inquiry": ("inquiry_answer", "答复客户咨询", 2, 0.25),
              "loan_progress": ("loan_progress", "告知贷款进度", 5, 0.5)}
DEFAULT_PRODUCTS = ("天天利现金管理", "稳享固收90天", "三年期大额存单", "成长优选混合基金")


class Service:
    """Generates interactions and follow-ups for one customer at a time."""

    def __init__(self, rng: random.Random, tl: Timeline):
        self.rng, self.tl = rng, tl

    def _when(self, first: dt.date, last: dt.date) -> dt.datetime | None:
        if last < first:
            return None
        day = first + dt.timedelta(days=self.rng.randrange((last - first).days + 1))
        return local_to_utc(day, self.rng.randint(9 * 3600, 18 * 3600))

    def _satisfaction(self, p: Profile, topic: str, channel: str) -> int | None:
        rng = self.rng
        if channel in NO_FEEDBACK or rng.random() < 0.1:
            return None
        if topic == "complaint":
            return rng.choices((1, 2, 3), weights=(55, 35, 10))[0]
        if p.segment == "leaver":
            return rng.choice((1, 2, 2, 3))
        if p.segment == "decliner":
            return rng.choice((2, 3, 3, 4))
        return rng.choices((5, 4, 3, 2), weights=(45, 40, 12, 3))[0]

    def generate(self, p: Profile, products: list[str], ids, has_loan: bool):
        """(interaction rows, follow-up rows) for ``p``."""
        rng, tl = self.rng, self.tl
        first = max(tl.start, p.onboarded_on)
        last = (p.closed_on or tl.today) - dt.timedelta(days=1)
        plan: list[tuple[str, dt.datetime]] = []
        topics = [t for t in TOPICS if has_loan or t != "loan_progress"]
        weights = [TOPICS[t][0] for t in topics]
        count = poisson(rng, 3.6 if p.wealth >= 50_000_000 else 2.4)
        for topic in rng.choices(topics, weights=weights, k=count):
            when = self._when(first, last)
            if when:
                plan.append((topic, when))
        if p.decline_start is not None and rng.random() < (0.6 if p.segment == "leaver" else 0.4):
            when = self._when(max(first, p.decline_start), last)
            if when:
                plan.append(("complaint", when))
        retention_at = None
        if p.segment == "leaver":
            retention_at = self._when(max(first, p.decline_start + dt.timedelta(days=20)), last)
        plan.sort(key=lambda item: item[1])
        interactions, tasks = [], []
        names = products or DEFAULT_PRODUCTS
        for topic, when in plan:
            _w, direction, channels = TOPICS[topic]
            channel = rng.choice(channels)
            summary = rng.choice(SUMMARIES[topic]).format(product=rng.choice(names))
            row = self._interaction(p, ids, when, channel, direction, topic, summary)
            interactions.append(row)
            if topic in TOPIC_TASK and rng.random() < TOPIC_TASK[topic][3]:
                tasks.append(self._task_for(p, ids, row, topic))
        if retention_at:
            row = self._interaction(p, ids, retention_at, "phone", "outbound", "other",
                                    rng.choice(RETENTION_SUMMARY))
            interactions.append(row)
            tasks.append(self._task(p, ids, "retention", "客户挽留跟进", row["occurred_at"],
                                    row["occurred_at"] + dt.timedelta(days=7), row,
                                    "客户最终仍选择销户。"))
        tasks += self._open_tasks(p, ids)
        return interactions, tasks

    def _interaction(self, p, ids, when, channel, direction, topic, summary) -> dict:
        return {
            "id": ids.take("interaction"), "customer_id": p.id, "staff_id": p.owner_id,
            "occurred_at": when, "channel": channel, "direction": direction, "topic": topic,
            "summary": summary, "satisfaction": self._satisfaction(p, topic, channel),
            "complaint": topic == "complaint", "custom_fields": {},
        }

    def _task_for(self, p, ids, interaction, topic) -> dict:
        task_type, title, days, _share = TOPIC_TASK[topic]
        created = interaction["occurred_at"]
        return self._task(p, ids, task_type, title, created, created + dt.timedelta(days=days),
                          interaction, interaction["summary"])

    def _task(self, p, ids, task_type, title, created, due, interaction, notes) -> dict:
        """A task; done if it fell due a while ago (mostly), else open (possibly overdue)."""
        rng, now = self.rng, self.tl.now
        done = p.closed_on is not None or (due < now - dt.timedelta(days=2) and rng.random() < 0.85)
        completed = None
        if done:
            completed = min(now, created + dt.timedelta(hours=rng.randint(2, 24 * 5)))
        return {
            "id": ids.take("follow_up"), "customer_id": p.id, "assignee_id": p.owner_id,
            "interaction_id": interaction["id"] if interaction else None,
            "title": title, "task_type": task_type, "due_at": due,
            "status": "done" if done else "open",
            "source": "interaction" if interaction else "demo", "notes": notes,
            "created_at": created, "completed_at": completed,
        }

    def _open_tasks(self, p: Profile, ids) -> list[dict]:
        """Open work for live customers: retention, birthday calls and callbacks."""
        if p.closed_on is not None:
            return []
        rng, now, today = self.rng, self.tl.now, self.tl.today
        tasks = []
        if p.segment == "decliner":
            due = now + dt.timedelta(days=rng.randint(-7, 10))
            tasks.append(self._task(p, ids, "retention", "客户资金流出预警,联系挽留",
                                    now - dt.timedelta(days=rng.randint(1, 14)), due, None,
                                    "近三个月交易和余额明显下降,工资可能已转出。"))
        if p.birth is not None:
            birthday = _next_birthday(p.birth, today)
            if (birthday - today).days <= 14 and rng.random() < 0.6:
                due = local_to_utc(birthday, 10 * 3600)
                tasks.append(self._task(p, ids, "greeting_call", "生日问候电话",
                                        now - dt.timedelta(days=1), due, None, None))
        if rng.random() < 0.04:
            due = now + dt.timedelta(hours=rng.randint(-24 * 5, 24 * 7))
            tasks.append(self._task(p, ids, "callback", "回电客户",
                                    now - dt.timedelta(days=rng.randint(1, 6)), due, None,
                                    "客户来电未接通,约定回电。"))
        return tasks


def _next_birthday(birth: dt.date, today: dt.date) -> dt.date:
    for year in (today.year, today.year + 1):
        try:
            day = birth.replace(year=year)
        except ValueError:  # 29 February
            day = dt.date(year, 3, 1)
        if day >= today:
            return day
    raise AssertionError("unreachable")  # pragma: no cover

