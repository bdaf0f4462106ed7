"""The demo bank's product catalogue: every category and every risk level R1-R5.

Kept as data so the suitability logic (a customer's C-level against a product's R-level) and the
screens have something realistic to work with: cash management and deposits at R1, fixed income
at R2, balanced at R3, equity at R4 and private equity / QDII at R5, each with a minimum amount.
"""
from __future__ import annotations

from decimal import Decimal

# code, name, category, risk level, minimum amount (CNY), description
PRODUCTS = (
    ("DEP-CUR", "个人活期储蓄", "deposit", "R1", 0, "个人人民币活期储蓄账户,随存随取。"),
    ("DEP-SAL", "薪金宝代发工资卡", "deposit", "R1", 0, "代发工资专用借记卡,免年费和短信费。"),
    ("DEP-CORP", "单位人民币结算账户", "deposit", "R1", 0, "企业基本存款账户,办理日常转账结算。"),
    ("TD-3M", "三个月整存整取", "time_deposit", "R1", 50, "三个月期定期存款,到期自动转存。"),
    ("TD-1Y", "一年期整存整取", "time_deposit", "R1", 50, "一年期定期存款。"),
    ("TD-3Y", "三年期大额存单", "time_deposit", "R1", 200000, "三年期个人大额存单,可转让。"),
    ("TD-5Y", "五年期整存整取", "time_deposit", "R1", 50, "五年期定期存款。"),
    ("WM-CASH", "天天利现金管理", "wealth", "R1", 1, "现金管理类理财,T+0快速赎回。"),
    ("WM-FI90", "稳享固收90天", "wealth", "R2", 10000, "固定收益类理财,投资周期90天。"),
    ("WM-FI1Y", "安鑫纯债一年持有", "wealth", "R2", 10000, "纯债策略,一年最短持有期。"),
    ("WM-MIX", "睿盈固收+混合", "wealth", "R3", 10000, "固收增强策略,少量配置权益资产。"),
    ("WM-EQ", "臻选权益增强", "wealth", "R4", 10000, "权益类理财,波动较大。"),
    ("WM-PB", "私行尊享多策略", "wealth", "R4", 1000000, "私人银行客户专属,多策略配置。"),
    ("WM-PE", "私募股权精选母基金", "wealth", "R5", 1000000, "私募股权投资,封闭期五年。"),
    ("FD-MMF", "金陵货币市场基金", "fund", "R1", 1, "货币市场基金,流动性好。"),
    ("FD-BOND", "汇利纯债债券基金", "fund", "R2", 10, "纯债基金,不投资股票。"),
    ("FD-MIX", "成长优选混合基金", "fund", "R3", 10, "偏股混合型基金。"),
    ("FD-CSI300", "沪深300指数基金", "fund", "R4", 10, "被动跟踪沪深300指数。"),
    ("FD-QDII", "纳斯达克100指数QDII", "fund", "R5", 10, "投资境外市场,含汇率风险。"),
    ("INS-ANN", "福寿安康养老年金保险", "insurance", "R1", 10000, "养老年金,60岁起按年领取。"),
    ("INS-UL", "金账户万能型两全保险", "insurance", "R2", 10000, "万能险,保底利率加浮动收益。"),
    ("INS-ILP", "稳健投资连结保险", "insurance", "R4", 50000, "投资连结险,账户价值随市场波动。"),
    ("LN-MORT", "个人住房按揭贷款", "loan", "R2", 100000, "首套及二套住房按揭,最长30年。"),
    ("LN-CONS", "个人消费贷款", "loan", "R3", 10000, "用于装修、教育、购车等消费。"),
    ("LN-BIZ", "个体工商户经营贷", "loan", "R3", 50000, "小微经营者流动资金贷款。"),
    ("LN-CORP", "企业流动资金贷款", "loan", "R3", 500000, "企业日常经营周转。"),
    ("CC-STD", "金陵标准信用卡", "credit_card", "R2", 0, "标准卡,首年免年费。"),
    ("CC-PLAT", "白金信用卡", "credit_card", "R2", 0, "白金卡,机场贵宾厅与道路救援。"),
)

RISK_RANK = {"R1": 1, "R2": 2, "R3": 3, "R4": 4, "R5": 5}


def product_rows(existing: dict[str, int], ids) -> tuple[list[dict], dict[str, dict]]:
    """Rows to insert for products not yet present, and every catalogue product by code.

    Products whose code already exists are reused (a catalogue loaded earlier stays authoritative
    for its ids), so the demo can run on a database where an operator set products up first.
    """
    rows, by_code = [], {}
    for code, name, category, risk, minimum, description in PRODUCTS:
        if code in existing:
            product_id = existing[code]
        else:
            product_id = ids.take("product")
            rows.append({
                "id": product_id, "code": code, "name": name, "category": category,
                "risk_level": risk, "min_amount": Decimal(minimum).quantize(Decimal("0.01")),
                "description": description, "active": True,
            })
        by_code[code] = {
            "id": product_id, "code": code, "name": name, "category": category,
            "risk": RISK_RANK[risk], "min_amount": minimum,
        }
    return rows, by_code
