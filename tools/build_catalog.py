"""Build the indicator catalog data file ``src/puhui/catalog/data/indicators.csv``.

The CSV is the reviewed artefact that ``puhui init`` loads; this script is how it was
written, kept so that a reviewer can see the families behind the 595 rows. Changing the
catalog is deliberate: edit the families here (or the CSV by hand), run

    python tools/build_catalog.py

bump ``CATALOG_VERSION`` in ``src/puhui/catalog/data/VERSION`` and say what changed in
``src/puhui/catalog/data/CHANGES.md``. ``puhui init`` refuses a changed file under an old
version number.

The catalog has exactly 595 indicators in the 7 categories, 50 of them ``key``
(filterable) and 27 ``warning`` (monitorable), covering the kinds GLOSSARY.md lists.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

OUT = (
    Path(__file__).resolve().parent.parent / "src" / "puhui" / "catalog" / "data" / "indicators.csv"
)

# the columns the catalog loader checks (one list, kept in puhui.catalog.file)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from puhui.catalog.file import COLUMNS  # noqa: E402

# Data-source departments: code -> (name, level)
SOURCES = {
    "SAMR": ("宁波市市场监督管理局", "municipal"),
    "TAX": ("国家税务总局宁波市税务局", "municipal"),
    "HRSS": ("宁波市人力资源和社会保障局", "municipal"),
    "HPF": ("宁波市住房公积金管理中心", "municipal"),
    "POWER": ("国网宁波供电公司", "municipal"),
    "WATER": ("宁波市水务环境集团", "municipal"),
    "CUSTOMS": ("宁波海关", "national"),
    "COURT": ("宁波市中级人民法院", "municipal"),
    "SPC": ("最高人民法院", "national"),
    "NRP": ("宁波市自然资源和规划局", "municipal"),
    "CNIPA": ("国家知识产权局", "national"),
    "STB": ("宁波市科学技术局", "municipal"),
    "EIT": ("浙江省经济和信息化厅", "provincial"),
    "EEB": ("宁波市生态环境局", "municipal"),
    "EMB": ("宁波市应急管理局", "municipal"),
    "PBOC": ("中国人民银行宁波市分行", "municipal"),
    "CCRC": ("动产融资统一登记公示系统", "national"),
    "CREDIT": ("信用宁波", "municipal"),
    "COUNTY": ("区县（市）政府", "county"),
    "PLATFORM": ("普惠平台", "municipal"),
}


@dataclass
class Ind:
    code: str
    category: str
    name_zh: str
    name_en: str
    definition: str
    unit: str
    value_type: str  # amount, count, ratio, grade, code, flag, date, text
    source: str
    frequency: str  # static, monthly, quarterly, annual, event
    allowed: list[str] = field(default_factory=list)
    min_value: str = ""
    max_value: str = ""
    sensitivity: str = "C1"
    personal: bool = False
    key: bool = False
    warning: bool = False

    def row(self) -> dict[str, str]:
        ts = self.frequency in ("monthly", "quarterly")
        return {
            "code": self.code,
            "category": self.category,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "definition": self.definition,
            "unit": self.unit,
            "value_type": self.value_type,
            "allowed_values": "|".join(self.allowed),
            "min_value": self.min_value,
            "max_value": self.max_value,
            "source": self.source,
            "level": SOURCES[self.source][1],
            "frequency": self.frequency,
            "time_series": "1" if ts else "0",
            "sensitivity": self.sensitivity,
            "personal": "1" if self.personal else "0",
            "key": "1" if self.key else "0",
            "warning": "1" if self.warning else "0",
        }


def amount(code, cat, zh, en, src, freq="monthly", **kw) -> Ind:
    return Ind(code, cat, zh, en, f"{zh}（元）", "yuan", "amount", src, freq, min_value="0", **kw)


def count(code, cat, zh, en, src, freq="monthly", **kw) -> Ind:
    return Ind(code, cat, zh, en, f"{zh}（个数）", "count", "count", src, freq, min_value="0", **kw)


def ratio(code, cat, zh, en, src, freq="monthly", lo="-1", hi="100", **kw) -> Ind:
    return Ind(
        code,
        cat,
        zh,
        en,
        f"{zh}（比率，0.1 表示 10%）",
        "ratio",
        "ratio",
        src,
        freq,
        min_value=lo,
        max_value=hi,
        **kw,
    )


def flag(code, cat, zh, en, src, freq="event", **kw) -> Ind:
    return Ind(code, cat, zh, en, f"是否{zh}", "", "flag", src, freq, allowed=["0", "1"], **kw)


def grade(code, cat, zh, en, src, allowed, freq="annual", **kw) -> Ind:
    return Ind(code, cat, zh, en, f"{zh}（等级）", "", "grade", src, freq, allowed=allowed, **kw)


def date(code, cat, zh, en, src, freq="event", **kw) -> Ind:
    return Ind(code, cat, zh, en, f"{zh}（日期）", "", "date", src, freq, **kw)


def text(code, cat, zh, en, src, freq="static", **kw) -> Ind:
    return Ind(code, cat, zh, en, zh, "", "text", src, freq, **kw)


DISTRICTS = [
    "330203",
    "330205",
    "330206",
    "330211",
    "330212",
    "330213",
    "330225",
    "330226",
    "330281",
    "330282",
]
GBT4754_SECTIONS = list("ABCDEFGHIJKLMNOPQRST")
TAX_GRADES = ["A", "B", "M", "C", "D"]
CREDIT_GRADES = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]
HEALTH_GRADES = ["A", "B", "C", "D", "E"]


def basic() -> list[Ind]:
    c = "basic"
    out = [
        text("BAS_NAME", c, "市场主体名称", "Entity name", "SAMR", sensitivity="public"),
        grade(
            "BAS_ENTITY_TYPE",
            c,
            "主体类型",
            "Entity type",
            "SAMR",
            ["enterprise", "individual_business", "cooperative", "other"],
            freq="static",
            sensitivity="public",
            key=True,
        ),
        grade(
            "BAS_DISTRICT",
            c,
            "所属区县",
            "District",
            "SAMR",
            DISTRICTS,
            freq="static",
            sensitivity="public",
            key=True,
        ),
        grade(
            "BAS_INDUSTRY_SECTION",
            c,
            "国民经济行业门类",
            "Industry section (GB/T 4754)",
            "SAMR",
            GBT4754_SECTIONS,
            freq="static",
            sensitivity="public",
            key=True,
        ),
        text(
            "BAS_INDUSTRY_DIVISION",
            c,
            "国民经济行业大类",
            "Industry division (GB/T 4754)",
            "SAMR",
            sensitivity="public",
        ),
        amount(
            "BAS_REG_CAPITAL",
            c,
            "注册资本",
            "Registered capital",
            "SAMR",
            freq="static",
            sensitivity="public",
            key=True,
        ),
        amount(
            "BAS_PAID_CAPITAL", c, "实缴资本", "Paid-in capital", "SAMR", freq="annual", key=True
        ),
        date(
            "BAS_ESTABLISHED",
            c,
            "成立日期",
            "Establishment date",
            "SAMR",
            freq="static",
            sensitivity="public",
        ),
        Ind(
            "BAS_AGE_YEARS",
            c,
            "成立年限",
            "Years since establishment",
            "成立至今的年数",
            "year",
            "ratio",
            "SAMR",
            "annual",
            min_value="0",
            max_value="200",
            sensitivity="public",
            key=True,
        ),
        grade(
            "BAS_STATUS",
            c,
            "登记状态",
            "Registration status",
            "SAMR",
            ["active", "revoked", "deregistered", "moved_out"],
            freq="event",
            sensitivity="public",
        ),
        text(
            "BAS_LEGAL_REP_NAME",
            c,
            "法定代表人姓名",
            "Legal representative name",
            "SAMR",
            sensitivity="C2",
            personal=True,
        ),
        text(
            "BAS_LEGAL_REP_ID",
            c,
            "法定代表人身份证号",
            "Legal representative ID number",
            "SAMR",
            sensitivity="C3",
            personal=True,
        ),
        text("BAS_ADDRESS", c, "住所", "Registered address", "SAMR", sensitivity="public"),
        text("BAS_SCOPE", c, "经营范围", "Business scope", "SAMR", sensitivity="public"),
        count("BAS_SHAREHOLDERS", c, "股东数量", "Number of shareholders", "SAMR", freq="event"),
        count("BAS_BRANCHES", c, "分支机构数量", "Number of branches", "SAMR", freq="event"),
        count(
            "BAS_INVESTEES",
            c,
            "对外投资企业数",
            "Number of investee companies",
            "SAMR",
            freq="event",
        ),
        count(
            "BAS_CHANGES_3Y",
            c,
            "近三年登记变更次数",
            "Registration changes in 3 years",
            "SAMR",
            freq="monthly",
        ),
        flag(
            "BAS_SMALL_MICRO",
            c,
            "小微企业",
            "Small or micro enterprise",
            "SAMR",
            freq="annual",
            key=True,
        ),
        flag("BAS_LISTED", c, "上市公司", "Listed company", "SAMR", freq="event"),
        date(
            "BAS_ANNUAL_REPORT_DATE",
            c,
            "最近年报报送日期",
            "Latest annual report date",
            "SAMR",
            freq="annual",
        ),
        flag(
            "BAS_ANNUAL_REPORT_ON_TIME",
            c,
            "按时报送年报",
            "Annual report filed on time",
            "SAMR",
            freq="annual",
        ),
        count(
            "BAS_CONTROLLER_CHANGES",
            c,
            "实际控制人变更次数",
            "Changes of actual controller",
            "SAMR",
            freq="event",
        ),
        grade(
            "BAS_ORG_FORM",
            c,
            "组织形式",
            "Legal form",
            "SAMR",
            [
                "llc",
                "joint_stock",
                "partnership",
                "sole_proprietorship",
                "individual",
                "cooperative",
            ],
            freq="static",
            sensitivity="public",
        ),
        flag(
            "BAS_FOREIGN_INVESTED",
            c,
            "外商投资企业",
            "Foreign-invested enterprise",
            "SAMR",
            freq="static",
        ),
        flag(
            "BAS_STATE_OWNED",
            c,
            "国有控股企业",
            "State-controlled enterprise",
            "SAMR",
            freq="static",
        ),
        text(
            "BAS_CONTACT_MOBILE",
            c,
            "联系人手机号",
            "Contact mobile number",
            "SAMR",
            sensitivity="C2",
            personal=True,
        ),
        count(
            "BAS_INSURED_INITIAL",
            c,
            "年报参保人数",
            "Insured staff in annual report",
            "SAMR",
            freq="annual",
        ),
    ]
    out += [
        text(
            "BAS_REG_AUTHORITY",
            c,
            "登记机关",
            "Registration authority",
            "SAMR",
            sensitivity="public",
        ),
        date(
            "BAS_APPROVED_DATE",
            c,
            "核准日期",
            "Approval date",
            "SAMR",
            freq="event",
            sensitivity="public",
        ),
        date(
            "BAS_TERM_END",
            c,
            "营业期限至",
            "Business term end",
            "SAMR",
            freq="static",
            sensitivity="public",
        ),
        grade(
            "BAS_CAPITAL_CURRENCY",
            c,
            "注册资本币种",
            "Capital currency",
            "SAMR",
            ["CNY", "USD", "EUR", "HKD", "JPY", "other"],
            freq="static",
            sensitivity="public",
        ),
        flag("BAS_PARTY_ORG", c, "建立党组织", "Has a Party organisation", "SAMR", freq="annual"),
        flag(
            "BAS_WEBSITE",
            c,
            "公示网站或网店",
            "Website or online shop published",
            "SAMR",
            freq="annual",
        ),
        flag("BAS_HQ_IN_CITY", c, "总部在本市", "Headquartered in the city", "SAMR", freq="static"),
        flag(
            "BAS_BRANCH_OF_OTHER",
            c,
            "外地企业分支机构",
            "Branch of a company from elsewhere",
            "SAMR",
            freq="static",
        ),
        count(
            "BAS_LEGAL_REP_OTHER_ROLES",
            c,
            "法定代表人在外任职数",
            "Other posts of the legal representative",
            "SAMR",
            freq="event",
            sensitivity="C2",
            personal=True,
        ),
        count("BAS_SENIOR_MANAGERS", c, "主要人员数", "Key personnel", "SAMR", freq="event"),
        count(
            "BAS_ADDRESS_SHARED",
            c,
            "同址注册主体数",
            "Entities registered at the same address",
            "SAMR",
            freq="monthly",
        ),
        count(
            "BAS_CAPITAL_CHANGES",
            c,
            "注册资本变更次数",
            "Registered capital changes",
            "SAMR",
            freq="event",
        ),
        count(
            "BAS_SCOPE_CHANGES",
            c,
            "经营范围变更次数",
            "Business scope changes",
            "SAMR",
            freq="event",
        ),
        count("BAS_ADDRESS_CHANGES", c, "住所变更次数", "Address changes", "SAMR", freq="event"),
        count(
            "BAS_AR_EMPLOYEES",
            c,
            "年报从业人数",
            "Employees in annual report",
            "SAMR",
            freq="annual",
        ),
        count(
            "BAS_AR_FEMALE_EMPLOYEES",
            c,
            "年报女性从业人数",
            "Female employees in annual report",
            "SAMR",
            freq="annual",
        ),
    ]
    # filler facts reported in the annual report (public summary figures)
    for code, zh, en in [
        ("ASSETS", "年报资产总额", "Total assets in annual report"),
        ("REVENUE", "年报营业总收入", "Revenue in annual report"),
        ("PROFIT", "年报利润总额", "Profit in annual report"),
        ("TAX", "年报纳税总额", "Tax in annual report"),
        ("LIABILITIES", "年报负债总额", "Liabilities in annual report"),
        ("MAIN_REVENUE", "年报主营业务收入", "Main business revenue in annual report"),
        ("NET_PROFIT", "年报净利润", "Net profit in annual report"),
        ("EQUITY", "年报所有者权益", "Owners' equity in annual report"),
    ]:
        out.append(amount(f"BAS_AR_{code}", c, zh, en, "SAMR", freq="annual"))
    return out


def property_() -> list[Ind]:
    c = "property"
    out = [
        amount(
            "PRP_REAL_ESTATE_VALUE",
            c,
            "不动产评估价值",
            "Real estate appraised value",
            "NRP",
            freq="quarterly",
            key=True,
        ),
        count(
            "PRP_REAL_ESTATE_COUNT",
            c,
            "不动产权证数量",
            "Real estate titles",
            "NRP",
            freq="quarterly",
            key=True,
        ),
        Ind(
            "PRP_REAL_ESTATE_AREA",
            c,
            "不动产建筑面积",
            "Real estate floor area",
            "不动产建筑面积（平方米）",
            "m2",
            "ratio",
            "NRP",
            "quarterly",
            min_value="0",
            max_value="100000000",
        ),
        Ind(
            "PRP_LAND_AREA",
            c,
            "土地使用权面积",
            "Land use right area",
            "土地使用权面积（平方米）",
            "m2",
            "ratio",
            "NRP",
            "quarterly",
            min_value="0",
            max_value="100000000",
        ),
        count("PRP_LAND_COUNT", c, "土地使用权证数量", "Land use rights", "NRP", freq="quarterly"),
        amount(
            "PRP_MOVABLE_COLLATERAL",
            c,
            "可抵押动产价值",
            "Movable collateral value",
            "CCRC",
            freq="monthly",
            key=True,
        ),
        count(
            "PRP_CHATTEL_MORTGAGES",
            c,
            "动产抵押登记数",
            "Chattel mortgage registrations",
            "SAMR",
            freq="monthly",
        ),
        amount(
            "PRP_CHATTEL_MORTGAGE_AMOUNT",
            c,
            "动产抵押担保金额",
            "Chattel mortgage secured amount",
            "SAMR",
            freq="monthly",
        ),
        count(
            "PRP_RECEIVABLE_PLEDGES",
            c,
            "应收账款质押登记数",
            "Receivables pledge registrations",
            "CCRC",
            freq="monthly",
        ),
        amount(
            "PRP_RECEIVABLE_PLEDGE_AMOUNT",
            c,
            "应收账款质押金额",
            "Receivables pledged amount",
            "CCRC",
            freq="monthly",
        ),
        count(
            "PRP_EQUITY_PLEDGES",
            c,
            "股权出质登记数",
            "Equity pledge registrations",
            "SAMR",
            freq="monthly",
        ),
        amount(
            "PRP_EQUITY_PLEDGE_AMOUNT",
            c,
            "股权出质数额",
            "Equity pledged amount",
            "SAMR",
            freq="monthly",
        ),
        count(
            "PRP_IP_PLEDGES",
            c,
            "知识产权质押登记数",
            "IP pledge registrations",
            "CNIPA",
            freq="monthly",
        ),
        amount(
            "PRP_IP_PLEDGE_AMOUNT",
            c,
            "知识产权质押金额",
            "IP pledged amount",
            "CNIPA",
            freq="monthly",
        ),
        count(
            "PRP_CONSTRUCTION_PERMITS",
            c,
            "建设工程规划许可数",
            "Construction planning permits",
            "NRP",
            freq="quarterly",
        ),
        amount(
            "PRP_CONSTRUCTION_IN_PROGRESS",
            c,
            "在建工程抵押金额",
            "Construction-in-progress mortgages",
            "NRP",
            freq="quarterly",
        ),
        count(
            "PRP_LEASED_PREMISES",
            c,
            "租赁经营场所数",
            "Leased business premises",
            "COUNTY",
            freq="annual",
        ),
        Ind(
            "PRP_LEASED_AREA",
            c,
            "租赁经营面积",
            "Leased business area",
            "租赁经营面积（平方米）",
            "m2",
            "ratio",
            "COUNTY",
            "annual",
            min_value="0",
            max_value="100000000",
        ),
        count(
            "PRP_DOMAIN_NAMES", c, "注册域名数", "Registered domain names", "CNIPA", freq="annual"
        ),
        count(
            "PRP_INTEGRATED_CIRCUITS",
            c,
            "集成电路布图设计数",
            "IC layout designs",
            "CNIPA",
            freq="annual",
        ),
        count("PRP_VEHICLES", c, "登记机动车数量", "Registered vehicles", "SAMR", freq="quarterly"),
        count("PRP_VESSELS", c, "登记船舶数量", "Registered vessels", "SAMR", freq="quarterly"),
        count(
            "PRP_EQUIPMENT", c, "特种设备数量", "Special equipment units", "SAMR", freq="quarterly"
        ),
        count("PRP_PATENTS", c, "有效专利数", "Valid patents", "CNIPA", freq="monthly", key=True),
        count(
            "PRP_INVENTION_PATENTS",
            c,
            "有效发明专利数",
            "Valid invention patents",
            "CNIPA",
            freq="monthly",
            key=True,
        ),
        count(
            "PRP_UTILITY_PATENTS",
            c,
            "有效实用新型专利数",
            "Valid utility-model patents",
            "CNIPA",
            freq="monthly",
        ),
        count(
            "PRP_DESIGN_PATENTS",
            c,
            "有效外观设计专利数",
            "Valid design patents",
            "CNIPA",
            freq="monthly",
        ),
        count(
            "PRP_TRADEMARKS",
            c,
            "有效注册商标数",
            "Registered trademarks",
            "CNIPA",
            freq="monthly",
            key=True,
        ),
        count("PRP_COPYRIGHTS", c, "软件著作权数", "Software copyrights", "CNIPA", freq="monthly"),
        count(
            "PRP_WELL_KNOWN_MARKS", c, "驰名商标数", "Well-known trademarks", "CNIPA", freq="annual"
        ),
        count("PRP_GEO_MARKS", c, "地理标志数", "Geographical indications", "CNIPA", freq="annual"),
        count(
            "PRP_PATENT_APPLICATIONS_12M",
            c,
            "近12个月专利申请数",
            "Patent applications in 12 months",
            "CNIPA",
            freq="monthly",
        ),
        count(
            "PRP_PATENTS_TRANSFERRED_12M",
            c,
            "近12个月专利转让数",
            "Patents transferred in 12 months",
            "CNIPA",
            freq="monthly",
        ),
        flag(
            "PRP_REAL_ESTATE_SEIZED", c, "不动产被查封", "Real estate seized", "NRP", warning=True
        ),
        count(
            "PRP_REAL_ESTATE_SEIZURES",
            c,
            "不动产查封次数",
            "Real estate seizures",
            "COURT",
            freq="monthly",
        ),
        flag("PRP_EQUITY_FROZEN", c, "股权被冻结", "Equity frozen", "COURT", warning=True),
        amount(
            "PRP_EQUITY_FROZEN_AMOUNT",
            c,
            "被冻结股权数额",
            "Frozen equity amount",
            "COURT",
            freq="monthly",
        ),
        count(
            "PRP_NEW_CHATTEL_MORTGAGE",
            c,
            "新增动产抵押或质押",
            "New chattel mortgages or pledges",
            "CCRC",
            freq="monthly",
            warning=True,
        ),
        amount(
            "PRP_MORTGAGED_REAL_ESTATE",
            c,
            "已抵押不动产价值",
            "Mortgaged real estate value",
            "NRP",
            freq="quarterly",
        ),
        ratio(
            "PRP_MORTGAGE_RATIO",
            c,
            "不动产抵押率",
            "Real estate mortgage ratio",
            "NRP",
            freq="quarterly",
            lo="0",
            hi="10",
        ),
    ]
    for n, (zh, en) in enumerate(
        [
            ("厂房", "Factory buildings"),
            ("办公用房", "Office premises"),
            ("商业用房", "Commercial premises"),
            ("住宅", "Residential property"),
            ("仓储用房", "Warehouses"),
            ("工业用地", "Industrial land"),
            ("商服用地", "Commercial land"),
            ("农用地承包经营权", "Farmland contract rights"),
        ]
    ):
        out.append(
            amount(
                f"PRP_RE_{n + 1:02d}_VALUE",
                c,
                f"{zh}评估价值",
                f"{en}: appraised value",
                "NRP",
                freq="quarterly",
            )
        )
        out.append(
            Ind(
                f"PRP_RE_{n + 1:02d}_AREA",
                c,
                f"{zh}面积",
                f"{en}: area",
                f"{zh}面积（平方米）",
                "m2",
                "ratio",
                "NRP",
                "quarterly",
                min_value="0",
                max_value="100000000",
            )
        )
    return out


def financial() -> list[Ind]:
    c = "financial"
    items = [
        ("TOTAL_ASSETS", "资产总额", "Total assets"),
        ("CURRENT_ASSETS", "流动资产", "Current assets"),
        ("CASH", "货币资金", "Cash"),
        ("RECEIVABLES", "应收账款", "Accounts receivable"),
        ("INVENTORY", "存货", "Inventory"),
        ("FIXED_ASSETS", "固定资产", "Fixed assets"),
        ("TOTAL_LIABILITIES", "负债总额", "Total liabilities"),
        ("CURRENT_LIABILITIES", "流动负债", "Current liabilities"),
        ("SHORT_LOANS", "短期借款", "Short-term loans"),
        ("LONG_LOANS", "长期借款", "Long-term loans"),
        ("PAYABLES", "应付账款", "Accounts payable"),
        ("EQUITY", "所有者权益", "Owners' equity"),
        ("REVENUE", "营业收入", "Operating revenue"),
        ("OPERATING_COST", "营业成本", "Operating cost"),
        ("GROSS_PROFIT", "毛利润", "Gross profit"),
        ("OPERATING_PROFIT", "营业利润", "Operating profit"),
        ("TOTAL_PROFIT", "利润总额", "Total profit"),
        ("NET_PROFIT", "净利润", "Net profit"),
        ("SELLING_EXPENSE", "销售费用", "Selling expenses"),
        ("ADMIN_EXPENSE", "管理费用", "Administrative expenses"),
        ("FINANCE_EXPENSE", "财务费用", "Finance expenses"),
        ("RD_EXPENSE", "研发费用", "R&D expenses"),
        ("OPERATING_CASH_FLOW", "经营活动现金流量净额", "Net operating cash flow"),
        ("INVESTING_CASH_FLOW", "投资活动现金流量净额", "Net investing cash flow"),
        ("FINANCING_CASH_FLOW", "筹资活动现金流量净额", "Net financing cash flow"),
        ("PAYROLL", "应付职工薪酬", "Payroll payable"),
        ("TAXES_PAYABLE", "应交税费", "Taxes payable"),
    ]
    out: list[Ind] = []
    for code, zh, en in items:
        for period, pzh, pen, freq in (
            ("Y", "（年度）", " (annual)", "annual"),
            ("Q", "（季度）", " (quarterly)", "quarterly"),
        ):
            ind = amount(
                f"FIN_{code}_{period}",
                c,
                zh + pzh,
                en + pen,
                "TAX",
                freq=freq,
                key=code == "REVENUE" and period == "Y",
            )
            ind.min_value = ""  # profits and cash flows may be negative
            out.append(ind)
    ratios = [
        ("DEBT_RATIO", "资产负债率", "Debt-to-asset ratio", "0", "10"),  # key, below
        ("CURRENT_RATIO", "流动比率", "Current ratio", "0", "1000"),
        ("QUICK_RATIO", "速动比率", "Quick ratio", "0", "1000"),
        ("GROSS_MARGIN", "毛利率", "Gross margin", "-10", "1"),
        ("NET_MARGIN", "净利率", "Net margin", "-10", "1"),
        ("ROE", "净资产收益率", "Return on equity", "-100", "100"),
        ("ROA", "总资产收益率", "Return on assets", "-10", "10"),
        ("RECEIVABLE_TURNOVER", "应收账款周转率", "Receivables turnover", "0", "10000"),
        ("INVENTORY_TURNOVER", "存货周转率", "Inventory turnover", "0", "10000"),
        ("ASSET_TURNOVER", "总资产周转率", "Asset turnover", "0", "1000"),
        ("REVENUE_GROWTH", "营业收入增长率", "Revenue growth", "-1", "100"),
        ("PROFIT_GROWTH", "净利润增长率", "Net profit growth", "-100", "100"),
        ("INTEREST_COVERAGE", "利息保障倍数", "Interest coverage", "-10000", "10000"),
        ("RD_INTENSITY", "研发投入强度", "R&D intensity", "0", "10"),
        ("CASH_TO_DEBT", "现金流动负债比", "Cash flow to current liabilities", "-100", "100"),
        ("EQUITY_RATIO", "产权比率", "Liabilities-to-equity ratio", "-1000", "1000"),
    ]
    for code, zh, en, lo, hi in ratios:
        out.append(
            ratio(
                f"FIN_{code}",
                c,
                zh,
                en,
                "TAX",
                freq="annual",
                lo=lo,
                hi=hi,
                key=code == "DEBT_RATIO",
            )
        )
    out += [
        grade(
            "FIN_STATEMENT_TYPE",
            c,
            "财务报表类型",
            "Financial statement type",
            "TAX",
            ["general", "small", "none"],
            freq="annual",
        ),
        flag(
            "FIN_AUDITED", c, "财务报表经审计", "Audited financial statements", "TAX", freq="annual"
        ),
        date(
            "FIN_LAST_FILED",
            c,
            "最近财报报送日期",
            "Latest statement filing date",
            "TAX",
            freq="quarterly",
        ),
        amount(
            "FIN_BANK_LOANS", c, "银行贷款余额", "Bank loans outstanding", "PBOC", sensitivity="C2"
        ),
        count(
            "FIN_LENDING_BANKS",
            c,
            "授信银行数",
            "Number of lending banks",
            "PBOC",
            key=True,
            sensitivity="C2",
        ),
        flag(
            "FIN_FIRST_TIME_BORROWER",
            c,
            "首贷户",
            "First-time borrower (no bank loan yet)",
            "PBOC",
            freq="monthly",
            key=True,
            sensitivity="C2",
        ),
        amount(
            "FIN_CREDIT_LINES", c, "银行授信额度", "Bank credit lines", "PBOC", sensitivity="C2"
        ),
        amount(
            "FIN_GUARANTEES_GIVEN",
            c,
            "对外担保余额",
            "Guarantees given outstanding",
            "PBOC",
            sensitivity="C2",
        ),
        amount("FIN_OVERDUE_LOANS", c, "逾期贷款余额", "Overdue loans", "PBOC", sensitivity="C2"),
        count(
            "FIN_OVERDUE_TIMES_24M",
            c,
            "近24个月逾期次数",
            "Overdue events in 24 months",
            "PBOC",
            sensitivity="C2",
        ),
        amount(
            "FIN_INCLUSIVE_LOANS",
            c,
            "普惠小微贷款余额",
            "Inclusive small-business loans",
            "PBOC",
            sensitivity="C2",
        ),
        amount(
            "FIN_GOV_GUARANTEED",
            c,
            "政府性融资担保余额",
            "Government-guaranteed loans",
            "PBOC",
            sensitivity="C2",
        ),
        amount(
            "FIN_BILLS_DISCOUNTED", c, "票据贴现余额", "Discounted bills", "PBOC", sensitivity="C2"
        ),
        amount(
            "FIN_INSURANCE_CLAIMS",
            c,
            "保险理赔金额",
            "Insurance claims paid",
            "PBOC",
            sensitivity="C2",
        ),
        amount(
            "FIN_EXPORT_CREDIT_INSURED",
            c,
            "出口信用保险保额",
            "Export credit insurance cover",
            "CUSTOMS",
        ),
        amount("FIN_SUBSIDY_LOANS", c, "贴息贷款金额", "Interest-subsidised loans", "COUNTY"),
    ]
    return out


def operating() -> list[Ind]:
    c = "operating"
    out: list[Ind] = []
    taxes = [
        ("TAX_TOTAL", "纳税总额", "Total tax paid"),
        ("TAX_VAT", "增值税", "VAT paid"),
        ("TAX_CIT", "企业所得税", "Corporate income tax paid"),
        ("TAX_IIT", "代扣个人所得税", "Individual income tax withheld"),
        ("TAX_CONSUMPTION", "消费税", "Consumption tax paid"),
        ("TAX_STAMP", "印花税", "Stamp duty paid"),
        ("TAX_URBAN", "城市维护建设税", "Urban maintenance tax paid"),
        ("TAX_PROPERTY", "房产税", "Property tax paid"),
        ("TAX_LAND_USE", "城镇土地使用税", "Land use tax paid"),
        ("TAX_SURCHARGE", "教育费附加", "Education surcharge paid"),
    ]
    windows = [
        ("M", "当月", "in the month"),
        ("3M", "近3个月", "in 3 months"),
        ("12M", "近12个月", "in 12 months"),
    ]
    for code, zh, en in taxes:
        for w, wzh, wen in windows:
            ind = amount(f"OPR_{code}_{w}", c, f"{wzh}{zh}", f"{en} {wen}", "TAX")
            if code in ("TAX_TOTAL", "TAX_VAT") and w == "12M":
                ind.key = True
            out.append(ind)
        out.append(
            ratio(
                f"OPR_{code}_YOY",
                c,
                f"{zh}同比增长率",
                f"{en}: year-on-year growth",
                "TAX",
                key=code == "TAX_TOTAL",
                warning=code == "TAX_TOTAL",
            )
        )
        out.append(
            ratio(
                f"OPR_{code}_MOM",
                c,
                f"{zh}环比增长率",
                f"{en}: month-on-month growth",
                "TAX",
                warning=code == "TAX_TOTAL",
            )
        )
    out += [
        grade(
            "OPR_TAX_CREDIT_GRADE",
            c,
            "纳税信用等级",
            "Tax credit grade",
            "TAX",
            TAX_GRADES,
            key=True,
        ),
        flag(
            "OPR_TAX_GRADE_DOWNGRADED",
            c,
            "纳税信用等级下调",
            "Tax credit grade downgraded",
            "TAX",
            freq="annual",
            warning=True,
        ),
        amount("OPR_TAX_ARREARS", c, "欠税金额", "Tax arrears", "TAX", warning=True),
        count(
            "OPR_TAX_LATE_FILINGS_12M",
            c,
            "近12个月逾期申报次数",
            "Late tax filings in 12 months",
            "TAX",
        ),
        flag(
            "OPR_TAX_GENERAL_PAYER", c, "增值税一般纳税人", "General VAT payer", "TAX", freq="event"
        ),
        count(
            "OPR_TAX_MONTHS_PAID_12M",
            c,
            "近12个月纳税月数",
            "Months with tax paid in 12 months",
            "TAX",
        ),
    ]
    invoices = [
        ("INV_SALES", "开票销售额", "Invoiced sales"),
        ("INV_PURCHASES", "进项发票金额", "Invoiced purchases"),
        ("INV_COUNT", "开票张数", "Invoices issued"),
        ("INV_CUSTOMERS", "下游客户数", "Invoiced customers"),
        ("INV_SUPPLIERS", "上游供应商数", "Invoicing suppliers"),
        ("INV_VOIDED", "作废发票金额", "Voided invoices"),
        ("INV_RED", "红字发票金额", "Credit-note invoices"),
    ]
    for code, zh, en in invoices:
        kind = count if code in ("INV_COUNT", "INV_CUSTOMERS", "INV_SUPPLIERS") else amount
        for w, wzh, wen in windows:
            ind = kind(f"OPR_{code}_{w}", c, f"{wzh}{zh}", f"{en} {wen}", "TAX")
            if code == "INV_SALES" and w == "12M":
                ind.key = True
            out.append(ind)
        out.append(
            ratio(
                f"OPR_{code}_YOY",
                c,
                f"{zh}同比增长率",
                f"{en}: year-on-year growth",
                "TAX",
                key=code == "INV_SALES",
            )
        )
        out.append(
            ratio(f"OPR_{code}_MOM", c, f"{zh}环比增长率", f"{en}: month-on-month growth", "TAX")
        )
    out += [
        ratio(
            "OPR_INV_TOP_CUSTOMER_SHARE",
            c,
            "第一大客户销售占比",
            "Top customer share of sales",
            "TAX",
            lo="0",
            hi="1",
        ),
        ratio(
            "OPR_INV_TOP5_CUSTOMER_SHARE",
            c,
            "前五大客户销售占比",
            "Top-5 customers share of sales",
            "TAX",
            lo="0",
            hi="1",
        ),
        ratio(
            "OPR_INV_TOP_SUPPLIER_SHARE",
            c,
            "第一大供应商采购占比",
            "Top supplier share of purchases",
            "TAX",
            lo="0",
            hi="1",
        ),
        ratio(
            "OPR_INV_LOCAL_SHARE",
            c,
            "市内销售占比",
            "Share of sales within the city",
            "TAX",
            lo="0",
            hi="1",
        ),
    ]
    social = [
        ("SS_HEADCOUNT", "社保缴纳人数", "Social-security insured headcount", count),
        ("SS_PAID", "社保缴费金额", "Social-security contributions", amount),
        ("SS_BASE", "社保缴费基数总额", "Social-security contribution base", amount),
        ("SS_NEW_HIRES", "社保新增参保人数", "New insured staff", count),
        ("SS_LEAVERS", "社保减员人数", "Insured staff leaving", count),
        ("HPF_HEADCOUNT", "公积金缴存人数", "Housing-fund contributors", count),
        ("HPF_PAID", "公积金缴存金额", "Housing-fund contributions", amount),
    ]
    for code, zh, en, kind in social:
        src = "HPF" if code.startswith("HPF") else "HRSS"
        out.append(
            kind(
                f"OPR_{code}_M",
                c,
                f"当月{zh}",
                f"{en} in the month",
                src,
                key=code in ("SS_HEADCOUNT", "HPF_HEADCOUNT"),
            )
        )
        out.append(
            kind(
                f"OPR_{code}_AVG12M", c, f"近12个月月均{zh}", f"{en}: 12-month monthly average", src
            )
        )
        out.append(
            ratio(
                f"OPR_{code}_YOY",
                c,
                f"{zh}同比增长率",
                f"{en}: year-on-year growth",
                src,
                key=code in ("SS_HEADCOUNT", "HPF_HEADCOUNT"),
                warning=code in ("SS_HEADCOUNT", "HPF_HEADCOUNT"),
            )
        )
        out.append(
            ratio(
                f"OPR_{code}_MOM",
                c,
                f"{zh}环比增长率",
                f"{en}: month-on-month growth",
                src,
            )
        )
    for code, zh, en in [
        ("PENSION", "养老保险", "pension insurance"),
        ("MEDICAL", "医疗保险", "medical insurance"),
        ("UNEMPLOYMENT", "失业保险", "unemployment insurance"),
        ("INJURY", "工伤保险", "work-injury insurance"),
        ("MATERNITY", "生育保险", "maternity insurance"),
    ]:
        out.append(
            count(
                f"OPR_SS_{code}_HEADCOUNT", c, f"{zh}参保人数", f"Insured headcount: {en}", "HRSS"
            )
        )
        out.append(
            amount(f"OPR_SS_{code}_PAID", c, f"{zh}缴费金额", f"Contributions: {en}", "HRSS")
        )
    for code, zh, en in [
        ("PEAK", "峰时", "peak-hour"),
        ("VALLEY", "谷时", "off-peak"),
        ("FLAT", "平时", "shoulder"),
    ]:
        out.append(
            Ind(
                f"OPR_POWER_{code}_M",
                c,
                f"当月{zh}用电量",
                f"Electricity use in the month, {en}",
                f"当月{zh}用电量（kWh）",
                "kWh",
                "ratio",
                "POWER",
                "monthly",
                min_value="0",
                max_value="100000000000",
            )
        )
    out += [
        ratio(
            "OPR_POWER_LOAD_FACTOR",
            c,
            "用电负荷率",
            "Electricity load factor",
            "POWER",
            lo="0",
            hi="1",
        ),
        ratio(
            "OPR_POWER_PER_EMPLOYEE",
            c,
            "人均用电量",
            "Electricity use per employee",
            "POWER",
            lo="0",
            hi="100000000",
        ),
        ratio(
            "OPR_TAX_PER_EMPLOYEE",
            c,
            "人均纳税额",
            "Tax paid per employee",
            "TAX",
            lo="0",
            hi="1000000000",
        ),
        ratio(
            "OPR_SALES_PER_EMPLOYEE",
            c,
            "人均开票销售额",
            "Invoiced sales per employee",
            "TAX",
            lo="0",
            hi="100000000000",
        ),
        ratio(
            "OPR_TAX_BURDEN",
            c,
            "税负率",
            "Tax burden (tax / invoiced sales)",
            "TAX",
            lo="0",
            hi="10",
        ),
        count(
            "OPR_ACTIVE_MONTHS_12M",
            c,
            "近12个月经营活跃月数",
            "Active months in 12 months",
            "PLATFORM",
        ),
        ratio(
            "OPR_POWER_TO_SALES",
            c,
            "单位销售额用电量",
            "Electricity per yuan of sales",
            "POWER",
            lo="0",
            hi="1000000",
        ),
    ]
    out += [
        amount(
            "OPR_SS_ARREARS", c, "社保欠费金额", "Social-security arrears", "HRSS", warning=True
        ),
        count(
            "OPR_SS_ARREARS_MONTHS", c, "社保欠费月数", "Months of social-security arrears", "HRSS"
        ),
        amount("OPR_HPF_ARREARS", c, "公积金欠缴金额", "Housing-fund arrears", "HPF"),
        ratio(
            "OPR_SS_AVG_WAGE",
            c,
            "人均缴费工资",
            "Average contribution wage",
            "HRSS",
            lo="0",
            hi="10000000",
        ),
        count("OPR_SS_GRADUATES", c, "参保高校毕业生人数", "Insured university graduates", "HRSS"),
        count(
            "OPR_SS_SENIOR_TITLES",
            c,
            "高级职称人员数",
            "Staff with senior titles",
            "HRSS",
            freq="annual",
        ),
        count(
            "OPR_LABOUR_DISPUTES_12M",
            c,
            "近12个月劳动争议仲裁数",
            "Labour arbitration cases in 12 months",
            "HRSS",
        ),
        flag("OPR_WAGE_ARREARS", c, "欠薪记录", "Wage arrears record", "HRSS", freq="event"),
    ]
    utilities = [
        ("POWER", "用电量", "Electricity use", "kWh", "POWER"),
        ("WATER", "用水量", "Water use", "m3", "WATER"),
        ("GAS", "用气量", "Gas use", "m3", "WATER"),
    ]
    for code, zh, en, unit, src in utilities:
        for w, wzh, wen in windows:
            out.append(
                Ind(
                    f"OPR_{code}_{w}",
                    c,
                    f"{wzh}{zh}",
                    f"{en} {wen}",
                    f"{wzh}{zh}（{unit}）",
                    unit,
                    "ratio",
                    src,
                    "monthly",
                    min_value="0",
                    max_value="100000000000",
                    key=code in ("POWER", "WATER") and w == "12M",
                )
            )
        out.append(
            ratio(
                f"OPR_{code}_YOY",
                c,
                f"{zh}同比增长率",
                f"{en}: year-on-year growth",
                src,
                key=code in ("POWER", "WATER"),
                warning=code in ("POWER", "WATER"),
            )
        )
        out.append(
            ratio(f"OPR_{code}_MOM", c, f"{zh}环比增长率", f"{en}: month-on-month growth", src)
        )
        out.append(
            amount(f"OPR_{code}_BILL_12M", c, f"近12个月{zh}费用", f"{en}: bills in 12 months", src)
        )
        out.append(
            count(
                f"OPR_{code}_LATE_PAYMENTS_12M",
                c,
                f"近12个月{zh}缴费逾期次数",
                f"{en}: late payments in 12 months",
                src,
            )
        )
    out += [
        amount(
            "OPR_UTILITY_ARREARS", c, "水电气欠费金额", "Utility arrears", "POWER", warning=True
        ),
        Ind(
            "OPR_POWER_CAPACITY",
            c,
            "用电报装容量",
            "Contracted power capacity",
            "用电报装容量（千伏安）",
            "kVA",
            "ratio",
            "POWER",
            "event",
            min_value="0",
            max_value="10000000",
        ),
        flag("OPR_POWER_SUSPENDED", c, "停电或限电", "Power suspended", "POWER", freq="monthly"),
    ]
    trade = [
        ("EXPORT", "出口额", "Exports"),
        ("IMPORT", "进口额", "Imports"),
        ("TRADE", "进出口总额", "Total trade"),
    ]
    for code, zh, en in trade:
        for w, wzh, wen in windows:
            out.append(
                amount(f"OPR_{code}_{w}", c, f"{wzh}{zh}", f"{en} {wen}", "CUSTOMS", key=w == "12M")
            )
        out.append(
            ratio(
                f"OPR_{code}_YOY",
                c,
                f"{zh}同比增长率",
                f"{en}: year-on-year growth",
                "CUSTOMS",
                key=code == "TRADE",
            )
        )
        out.append(
            ratio(
                f"OPR_{code}_MOM", c, f"{zh}环比增长率", f"{en}: month-on-month growth", "CUSTOMS"
            )
        )
    out += [
        count(
            "OPR_CUSTOMS_DECLARATIONS_12M",
            c,
            "近12个月报关单数",
            "Customs declarations in 12 months",
            "CUSTOMS",
        ),
        count(
            "OPR_EXPORT_COUNTRIES", c, "出口目的国数量", "Export destination countries", "CUSTOMS"
        ),
        grade(
            "OPR_CUSTOMS_CREDIT",
            c,
            "海关信用等级",
            "Customs credit grade",
            "CUSTOMS",
            ["AEO_ADVANCED", "GENERAL_CERTIFIED", "GENERAL", "UNRELIABLE"],
        ),
        amount(
            "OPR_EXPORT_TAX_REBATE_12M",
            c,
            "近12个月出口退税额",
            "Export tax rebates in 12 months",
            "TAX",
        ),
        amount(
            "OPR_CROSS_BORDER_RMB_12M",
            c,
            "近12个月跨境人民币结算额",
            "Cross-border RMB settlement",
            "PBOC",
            sensitivity="C2",
        ),
        count("OPR_ONLINE_SHOPS", c, "网店数量", "Online shops", "SAMR", freq="quarterly"),
        count(
            "OPR_BIDS_WON_12M", c, "近12个月中标次数", "Public tenders won in 12 months", "COUNTY"
        ),
        amount(
            "OPR_BIDS_WON_AMOUNT_12M",
            c,
            "近12个月中标金额",
            "Tender amount won in 12 months",
            "COUNTY",
        ),
        count(
            "OPR_GOV_CONTRACTS_12M",
            c,
            "近12个月政府采购合同数",
            "Government contracts in 12 months",
            "COUNTY",
        ),
        count(
            "OPR_LICENCES",
            c,
            "有效行政许可数",
            "Valid administrative licences",
            "SAMR",
            freq="event",
        ),
        count(
            "OPR_PRODUCT_CERTIFICATES",
            c,
            "产品认证证书数",
            "Product certificates",
            "SAMR",
            freq="event",
        ),
        count(
            "OPR_FOOD_LICENCES", c, "食品经营许可数", "Food business licences", "SAMR", freq="event"
        ),
        count(
            "OPR_QUALITY_CHECKS_12M",
            c,
            "近12个月产品抽检次数",
            "Product quality checks in 12 months",
            "SAMR",
        ),
        count(
            "OPR_QUALITY_FAILS_12M",
            c,
            "近12个月抽检不合格次数",
            "Failed quality checks in 12 months",
            "SAMR",
        ),
        count("OPR_ENERGY_AUDITS", c, "能耗审计次数", "Energy audits", "EEB", freq="annual"),
        grade(
            "OPR_ENV_CREDIT",
            c,
            "环境信用等级",
            "Environmental credit grade",
            "EEB",
            ["green", "blue", "yellow", "red", "black"],
        ),
        grade(
            "OPR_SAFETY_GRADE",
            c,
            "安全生产标准化等级",
            "Work-safety standardisation grade",
            "EMB",
            ["1", "2", "3", "none"],
        ),
        Ind(
            "OPR_MU_OUTPUT",
            c,
            "亩均税收",
            "Tax per mu of land",
            "亩均税收（元/亩）",
            "yuan_per_mu",
            "amount",
            "COUNTY",
            "annual",
            min_value="0",
        ),
        grade(
            "OPR_MU_GRADE",
            c,
            "亩均效益综合评价等级",
            "Output-per-mu evaluation grade",
            "COUNTY",
            ["A", "B", "C", "D"],
        ),
        count("OPR_RD_STAFF", c, "研发人员数", "R&D staff", "STB", freq="annual"),
    ]
    return out


def positive() -> list[Ind]:
    c = "positive"
    honours = [
        ("HIGH_TECH", "国家高新技术企业", "National high-tech enterprise", "STB", True),
        ("TECH_SME", "科技型中小企业", "Technology-based SME", "STB", True),
        (
            "SPECIALISED_SME",
            "专精特新中小企业",
            "Specialised and innovative SME (专精特新)",
            "EIT",
            True,
        ),
        ("LITTLE_GIANT", "专精特新小巨人", "Little giant enterprise", "EIT", True),
        ("SINGLE_CHAMPION", "制造业单项冠军", "Manufacturing single champion", "EIT", False),
        ("INNOVATIVE_SME", "创新型中小企业", "Innovative SME", "EIT", False),
        ("GAZELLE", "瞪羚企业", "Gazelle enterprise", "STB", False),
        ("UNICORN_SEED", "准独角兽企业", "Prospective unicorn", "STB", False),
        ("TECH_CENTRE", "企业技术中心", "Enterprise technology centre", "EIT", False),
        ("ENG_CENTRE", "工程技术研究中心", "Engineering research centre", "STB", False),
        ("KEY_LAB", "重点实验室", "Key laboratory", "STB", False),
        ("POSTDOC", "博士后工作站", "Post-doctoral workstation", "HRSS", False),
        ("GREEN_FACTORY", "绿色工厂", "Green factory", "EIT", False),
        ("SMART_FACTORY", "智能工厂", "Smart factory", "EIT", False),
        ("DIGITAL_WORKSHOP", "数字化车间", "Digital workshop", "EIT", False),
        ("QUALITY_AWARD", "政府质量奖", "Government quality award", "SAMR", False),
        ("FAMOUS_BRAND", "品字标浙江制造", "Made in Zhejiang brand", "SAMR", False),
        ("OLD_BRAND", "中华老字号", "China time-honoured brand", "SAMR", False),
        ("AAA_CONTRACT", "守合同重信用企业", "Contract-honouring enterprise", "SAMR", False),
        ("CREDIT_DEMO", "诚信示范企业", "Model of integrity", "CREDIT", False),
        ("TAX_A_3Y", "连续三年纳税信用A级", "Tax grade A for three years", "TAX", False),
        ("CUSTOMS_AEO", "海关高级认证企业", "Customs AEO advanced", "CUSTOMS", False),
        ("EXPORT_BRAND", "出口名牌", "Export brand", "CUSTOMS", False),
        ("AGRI_LEADER", "农业龙头企业", "Leading agricultural enterprise", "COUNTY", False),
        ("MODEL_COOP", "示范性农民合作社", "Model farmers' cooperative", "COUNTY", False),
        ("FAMILY_FARM", "示范性家庭农场", "Model family farm", "COUNTY", False),
        ("EMPLOYER_AWARD", "和谐劳动关系企业", "Harmonious labour relations", "HRSS", False),
        ("ENV_LEADER", "环保领跑者", "Environmental front-runner", "EEB", False),
        ("SAFETY_MODEL", "安全生产示范企业", "Work-safety model", "EMB", False),
        ("LISTED_RESERVE", "上市后备企业", "Listing reserve enterprise", "COUNTY", False),
        ("IP_ADVANTAGE", "知识产权优势企业", "IP advantage enterprise", "CNIPA", False),
        ("IP_DEMO", "知识产权示范企业", "IP model enterprise", "CNIPA", False),
        ("STANDARD_SETTER", "标准制定单位", "Standard-setting body", "SAMR", False),
        ("SERVICE_MODEL", "服务型制造示范", "Service-oriented manufacturing model", "EIT", False),
        ("CULTURE_KEY", "重点文化企业", "Key cultural enterprise", "COUNTY", False),
    ]
    out: list[Ind] = []
    for code, zh, en, src, key in honours:
        out.append(
            flag(f"POS_{code}", c, zh, en, src, freq="annual", key=key, sensitivity="public")
        )
    out += [
        count(
            "POS_HONOURS",
            c,
            "荣誉资质总数",
            "Honours and qualifications",
            "CREDIT",
            freq="annual",
            key=True,
        ),
        count(
            "POS_HONOURS_NATIONAL",
            c,
            "国家级荣誉数",
            "National-level honours",
            "CREDIT",
            freq="annual",
        ),
        count(
            "POS_HONOURS_PROVINCIAL", c, "省级荣誉数", "Provincial honours", "CREDIT", freq="annual"
        ),
        count(
            "POS_HONOURS_MUNICIPAL", c, "市级荣誉数", "Municipal honours", "CREDIT", freq="annual"
        ),
        amount(
            "POS_SUBSIDIES_12M",
            c,
            "近12个月政府补贴金额",
            "Government subsidies in 12 months",
            "COUNTY",
            key=True,
        ),
        count(
            "POS_SUBSIDIES_COUNT_12M",
            c,
            "近12个月获补贴次数",
            "Subsidies received in 12 months",
            "COUNTY",
        ),
        amount("POS_TAX_RELIEF_12M", c, "近12个月减免税额", "Tax relief in 12 months", "TAX"),
        amount(
            "POS_RD_DEDUCTION", c, "研发费用加计扣除额", "R&D super-deduction", "TAX", freq="annual"
        ),
        amount(
            "POS_SS_RELIEF_12M",
            c,
            "近12个月社保减免额",
            "Social-security relief in 12 months",
            "HRSS",
        ),
        amount(
            "POS_EMPLOYMENT_SUBSIDY_12M",
            c,
            "近12个月稳岗补贴",
            "Job-retention subsidy in 12 months",
            "HRSS",
        ),
        amount(
            "POS_SUBSIDY_RD_12M",
            c,
            "近12个月科技项目补助",
            "R&D project grants in 12 months",
            "STB",
        ),
        amount(
            "POS_SUBSIDY_UPGRADE_12M",
            c,
            "近12个月技改补助",
            "Technical upgrade grants in 12 months",
            "EIT",
        ),
        amount(
            "POS_SUBSIDY_TRADE_12M",
            c,
            "近12个月外贸扶持资金",
            "Foreign-trade support in 12 months",
            "COUNTY",
        ),
        amount(
            "POS_SUBSIDY_AGRI_12M",
            c,
            "近12个月农业补贴",
            "Agricultural subsidies in 12 months",
            "COUNTY",
        ),
        amount(
            "POS_SUBSIDY_TALENT_12M", c, "近12个月人才补助", "Talent grants in 12 months", "HRSS"
        ),
        amount(
            "POS_SUBSIDY_GREEN_12M",
            c,
            "近12个月节能减排补助",
            "Energy-saving grants in 12 months",
            "EEB",
        ),
        count(
            "POS_TALENT_PROGRAMMES",
            c,
            "入选人才计划人数",
            "Staff in talent programmes",
            "HRSS",
            freq="annual",
        ),
        count("POS_STANDARDS", c, "主导制定标准数", "Standards led", "SAMR", freq="annual"),
        count(
            "POS_AWARDS_SCI", c, "科技奖励数", "Science and technology awards", "STB", freq="annual"
        ),
        count("POS_DONATIONS", c, "公益捐赠次数", "Charitable donations", "CREDIT", freq="annual"),
        amount(
            "POS_DONATION_AMOUNT",
            c,
            "公益捐赠金额",
            "Charitable donations amount",
            "CREDIT",
            freq="annual",
        ),
        count("POS_VOLUNTEER_HOURS", c, "志愿服务时长", "Volunteer hours", "CREDIT", freq="annual"),
        count("POS_CREDIT_COMMITMENTS", c, "信用承诺履约次数", "Credit commitments kept", "CREDIT"),
        flag("POS_CREDIT_REPAIRED", c, "完成信用修复", "Credit repair completed", "CREDIT"),
        date("POS_LAST_HONOUR", c, "最近荣誉获得日期", "Latest honour date", "CREDIT"),
        count("POS_GREEN_CERTS", c, "绿色认证数", "Green certifications", "EEB", freq="annual"),
        count(
            "POS_QUALITY_CERTS",
            c,
            "质量管理体系认证数",
            "Quality-management certifications",
            "SAMR",
            freq="annual",
        ),
        count(
            "POS_TECH_CONTRACTS_12M",
            c,
            "近12个月技术合同登记数",
            "Technology contracts in 12 months",
            "STB",
        ),
        amount(
            "POS_TECH_CONTRACT_AMOUNT_12M",
            c,
            "近12个月技术合同成交额",
            "Technology contract turnover",
            "STB",
        ),
        count(
            "POS_UNIVERSITY_PROJECTS",
            c,
            "产学研合作项目数",
            "University collaboration projects",
            "STB",
            freq="annual",
        ),
        flag(
            "POS_GREEN_CREDIT_ELIGIBLE",
            c,
            "绿色信贷支持名单",
            "Green credit eligible",
            "PBOC",
            freq="annual",
        ),
    ]
    return out


def negative() -> list[Ind]:
    c = "negative"
    out: list[Ind] = [
        flag(
            "NEG_ENFORCED",
            c,
            "被执行人",
            "Judgment debtor under enforcement (被执行人)",
            "COURT",
            freq="monthly",
            warning=True,
        ),
        count("NEG_ENFORCEMENTS", c, "被执行案件数", "Enforcement cases", "COURT", key=True),
        amount("NEG_ENFORCEMENT_AMOUNT", c, "被执行标的金额", "Amount under enforcement", "COURT"),
        flag(
            "NEG_DISHONEST",
            c,
            "失信被执行人",
            "Dishonest judgment debtor (失信被执行人)",
            "SPC",
            freq="monthly",
            warning=True,
        ),
        count(
            "NEG_DISHONEST_CASES", c, "失信被执行案件数", "Dishonest-debtor cases", "SPC", key=True
        ),
        flag(
            "NEG_CONSUMPTION_RESTRICTED",
            c,
            "限制高消费",
            "Consumption restriction order",
            "SPC",
            freq="monthly",
            warning=True,
        ),
        count(
            "NEG_LAWSUITS_DEFENDANT_NEW",
            c,
            "新增被诉案件",
            "New lawsuits as defendant",
            "COURT",
            warning=True,
        ),
        count(
            "NEG_LAWSUITS_DEFENDANT_12M",
            c,
            "近12个月被诉案件数",
            "Lawsuits as defendant in 12 months",
            "COURT",
            key=True,
        ),
        count(
            "NEG_LAWSUITS_PLAINTIFF_12M",
            c,
            "近12个月起诉案件数",
            "Lawsuits as plaintiff in 12 months",
            "COURT",
        ),
        amount(
            "NEG_LAWSUIT_AMOUNT_12M",
            c,
            "近12个月被诉标的金额",
            "Amount sued for in 12 months",
            "COURT",
        ),
        count(
            "NEG_FINANCIAL_LAWSUITS_12M",
            c,
            "近12个月金融借款纠纷数",
            "Loan disputes in 12 months",
            "COURT",
        ),
        count(
            "NEG_LABOUR_LAWSUITS_12M",
            c,
            "近12个月劳动纠纷诉讼数",
            "Labour lawsuits in 12 months",
            "COURT",
        ),
        flag(
            "NEG_BANKRUPTCY",
            c,
            "破产申请",
            "Bankruptcy filing",
            "COURT",
            freq="event",
            warning=True,
        ),
        flag(
            "NEG_ABNORMAL_OPERATION",
            c,
            "列入经营异常名录",
            "On the abnormal-operation list (经营异常名录)",
            "SAMR",
            freq="monthly",
            warning=True,
            key=True,
        ),
        count(
            "NEG_ABNORMAL_TIMES",
            c,
            "列入经营异常次数",
            "Times on the abnormal-operation list",
            "SAMR",
        ),
        flag(
            "NEG_SERIOUS_VIOLATION",
            c,
            "列入严重违法失信名单",
            "On the serious-violation list",
            "SAMR",
            freq="monthly",
            warning=True,
        ),
        count(
            "NEG_ADMIN_PENALTIES_NEW",
            c,
            "新增行政处罚",
            "New administrative penalties",
            "SAMR",
            warning=True,
        ),
        count(
            "NEG_ADMIN_PENALTIES_36M",
            c,
            "近36个月行政处罚次数",
            "Administrative penalties in 36 months",
            "SAMR",
            key=True,
        ),
        amount(
            "NEG_ADMIN_PENALTY_AMOUNT_36M",
            c,
            "近36个月行政处罚金额",
            "Administrative fines in 36 months",
            "SAMR",
        ),
        count(
            "NEG_ENV_PENALTIES_NEW",
            c,
            "新增环保处罚",
            "New environmental penalties",
            "EEB",
            warning=True,
        ),
        count(
            "NEG_ENV_PENALTIES_36M",
            c,
            "近36个月环保处罚次数",
            "Environmental penalties in 36 months",
            "EEB",
        ),
        count(
            "NEG_CUSTOMS_PENALTIES_NEW",
            c,
            "新增海关处罚",
            "New customs penalties",
            "CUSTOMS",
            warning=True,
        ),
        count(
            "NEG_CUSTOMS_PENALTIES_36M",
            c,
            "近36个月海关处罚次数",
            "Customs penalties in 36 months",
            "CUSTOMS",
        ),
        count(
            "NEG_TAX_PENALTIES_36M", c, "近36个月税务处罚次数", "Tax penalties in 36 months", "TAX"
        ),
        flag(
            "NEG_TAX_MAJOR_VIOLATION",
            c,
            "重大税收违法失信主体",
            "Major tax violation",
            "TAX",
            freq="monthly",
        ),
        count(
            "NEG_SAFETY_PENALTIES_36M",
            c,
            "近36个月安全生产处罚次数",
            "Work-safety penalties in 36 months",
            "EMB",
        ),
        count(
            "NEG_QUALITY_PENALTIES_36M",
            c,
            "近36个月质量处罚次数",
            "Quality penalties in 36 months",
            "SAMR",
        ),
        count(
            "NEG_FOOD_PENALTIES_36M",
            c,
            "近36个月食品安全处罚次数",
            "Food-safety penalties in 36 months",
            "SAMR",
        ),
        count(
            "NEG_PRICE_PENALTIES_36M",
            c,
            "近36个月价格违法处罚次数",
            "Price violations in 36 months",
            "SAMR",
        ),
        count(
            "NEG_FIRE_PENALTIES_36M",
            c,
            "近36个月消防处罚次数",
            "Fire-safety penalties in 36 months",
            "EMB",
        ),
        flag(
            "NEG_LEGAL_REP_CHANGED",
            c,
            "法定代表人变更",
            "Change of legal representative",
            "SAMR",
            freq="monthly",
            warning=True,
        ),
        flag(
            "NEG_CONTROLLER_CHANGED",
            c,
            "控股股东变更",
            "Change of controlling shareholder",
            "SAMR",
            freq="monthly",
            warning=True,
        ),
        flag(
            "NEG_DEREGISTERED",
            c,
            "注销或吊销",
            "Deregistered or licence revoked",
            "SAMR",
            freq="monthly",
            warning=True,
        ),
        flag(
            "NEG_RELATED_IN_TROUBLE",
            c,
            "关联主体出现严重风险",
            "A related entity in serious trouble",
            "CREDIT",
            freq="monthly",
            warning=True,
        ),
        count(
            "NEG_RELATED_DISHONEST",
            c,
            "关联方失信数",
            "Related parties that are dishonest debtors",
            "CREDIT",
        ),
        count(
            "NEG_LEGAL_REP_DISHONEST",
            c,
            "法定代表人失信记录数",
            "Dishonest records of the legal representative",
            "SPC",
            sensitivity="C2",
            personal=True,
        ),
        count(
            "NEG_COMPLAINTS_12M",
            c,
            "近12个月消费投诉数",
            "Consumer complaints in 12 months",
            "SAMR",
        ),
        count("NEG_OWED_WAGES_CASES", c, "欠薪案件数", "Wage-arrears cases", "HRSS"),
        count(
            "NEG_UTILITY_CUTOFFS_12M",
            c,
            "近12个月停水停电次数",
            "Utility cut-offs in 12 months",
            "POWER",
        ),
        count(
            "NEG_TAX_ABNORMAL_12M",
            c,
            "近12个月非正常户认定次数",
            "Abnormal tax-status findings",
            "TAX",
        ),
        flag("NEG_TAX_ABNORMAL", c, "税务非正常户", "Abnormal tax status", "TAX", freq="monthly"),
        flag(
            "NEG_SOCIAL_BLACKLIST",
            c,
            "社保失信名单",
            "Social-security blacklist",
            "HRSS",
            freq="monthly",
        ),
        flag(
            "NEG_ENV_BLACKLIST",
            c,
            "环境违法黑名单",
            "Environmental blacklist",
            "EEB",
            freq="monthly",
        ),
        flag(
            "NEG_SAFETY_BLACKLIST",
            c,
            "安全生产失信名单",
            "Work-safety blacklist",
            "EMB",
            freq="monthly",
        ),
        flag(
            "NEG_CUSTOMS_UNRELIABLE",
            c,
            "海关失信企业",
            "Customs unreliable enterprise",
            "CUSTOMS",
            freq="monthly",
        ),
        flag(
            "NEG_GOV_PROCUREMENT_BANNED",
            c,
            "政府采购禁入",
            "Banned from government procurement",
            "COUNTY",
            freq="monthly",
        ),
        count(
            "NEG_OVERDUE_BILLS",
            c,
            "商业汇票逾期次数",
            "Overdue commercial bills",
            "PBOC",
            sensitivity="C2",
        ),
        flag(
            "NEG_BILL_DEFAULT",
            c,
            "票据持续逾期",
            "Persistent bill default",
            "PBOC",
            freq="monthly",
            sensitivity="C2",
        ),
        count(
            "NEG_RECORDS_TOTAL", c, "负面记录总数", "Negative records in total", "CREDIT", key=True
        ),
        date(
            "NEG_LAST_RECORD_DATE", c, "最近负面记录日期", "Latest negative record date", "CREDIT"
        ),
    ]
    # counts over standard windows for the event families
    families = [
        ("ENFORCE", "被执行", "enforcement cases", "COURT"),
        ("DISHONEST", "失信", "dishonest-debtor records", "SPC"),
        ("LAWSUIT", "被诉", "lawsuits as defendant", "COURT"),
        ("PENALTY", "行政处罚", "administrative penalties", "SAMR"),
        ("ENV", "环保处罚", "environmental penalties", "EEB"),
        ("SEIZURE", "财产查封", "property seizures", "COURT"),
        ("FREEZE", "股权冻结", "equity freezes", "COURT"),
        ("ABNORMAL", "经营异常", "abnormal-operation listings", "SAMR"),
        ("ARREARS", "欠缴", "arrears findings", "TAX"),
        ("COMPLAINT", "投诉", "complaints", "SAMR"),
    ]
    for code, zh, en, src in families:
        for w, wzh, wen in (
            ("6M", "近6个月", "in 6 months"),
            ("12M", "近12个月", "in 12 months"),
            ("24M", "近24个月", "in 24 months"),
            ("60M", "近60个月", "in 60 months"),
        ):
            out.append(
                count(f"NEG_{code}_{w}", c, f"{wzh}{zh}记录数", f"{en.capitalize()} {wen}", src)
            )
    for code, zh, en, src in families:
        out.append(date(f"NEG_{code}_LAST", c, f"最近{zh}日期", f"Latest {en} date", src))
    return out


def credit() -> list[Ind]:
    c = "credit_evaluation"
    return [
        grade(
            "CRE_CREDIT_GRADE",
            c,
            "公共信用评价等级",
            "Public credit grade",
            "CREDIT",
            CREDIT_GRADES,
            key=True,
        ),
        Ind(
            "CRE_CREDIT_SCORE",
            c,
            "公共信用评分",
            "Public credit score",
            "公共信用综合评分（0-1000）",
            "points",
            "ratio",
            "CREDIT",
            "monthly",
            min_value="0",
            max_value="1000",
        ),
        grade(
            "CRE_HEALTH_GRADE",
            c,
            "经营健康等级",
            "Business-health grade",
            "PLATFORM",
            HEALTH_GRADES,
            freq="monthly",
            key=True,
        ),
        Ind(
            "CRE_HEALTH_SCORE",
            c,
            "经营健康评分",
            "Business-health score",
            "经营好不好评分（0-100）",
            "points",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="100",
            key=True,
        ),
        grade(
            "CRE_TAX_RISK_GRADE",
            c,
            "税务风险等级",
            "Tax risk grade",
            "TAX",
            ["low", "medium", "high"],
        ),
        grade(
            "CRE_ENV_RISK_GRADE",
            c,
            "环境风险等级",
            "Environmental risk grade",
            "EEB",
            ["low", "medium", "high"],
        ),
        grade(
            "CRE_SAFETY_RISK_GRADE",
            c,
            "安全风险等级",
            "Work-safety risk grade",
            "EMB",
            ["low", "medium", "high"],
        ),
        grade(
            "CRE_MARKET_GRADE",
            c,
            "市场监管信用分类",
            "Market-regulation credit class",
            "SAMR",
            ["A", "B", "C", "D"],
        ),
        grade(
            "CRE_SUPERVISION_CLASS",
            c,
            "分级分类监管类别",
            "Tiered supervision class",
            "SAMR",
            ["low", "general", "high"],
        ),
        Ind(
            "CRE_GROWTH_SCORE",
            c,
            "成长性评分",
            "Growth score",
            "成长性评分（0-100）",
            "points",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="100",
        ),
        Ind(
            "CRE_INNOVATION_SCORE",
            c,
            "创新能力评分",
            "Innovation score",
            "创新能力评分（0-100）",
            "points",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="100",
        ),
        Ind(
            "CRE_STABILITY_SCORE",
            c,
            "经营稳定性评分",
            "Stability score",
            "经营稳定性评分（0-100）",
            "points",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="100",
        ),
        Ind(
            "CRE_COMPLIANCE_SCORE",
            c,
            "合规性评分",
            "Compliance score",
            "合规性评分（0-100）",
            "points",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="100",
        ),
        Ind(
            "CRE_SOLVENCY_SCORE",
            c,
            "偿债能力评分",
            "Solvency score",
            "偿债能力评分（0-100）",
            "points",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="100",
        ),
        Ind(
            "CRE_DEFAULT_PROB",
            c,
            "违约概率估计",
            "Estimated default probability",
            "十二个月违约概率估计",
            "ratio",
            "ratio",
            "PLATFORM",
            "monthly",
            min_value="0",
            max_value="1",
        ),
        grade(
            "CRE_INDUSTRY_RANK",
            c,
            "行业内排名分位",
            "Rank within industry",
            "PLATFORM",
            ["top10", "top30", "middle", "bottom30", "bottom10"],
            freq="monthly",
        ),
        grade(
            "CRE_DISTRICT_RANK",
            c,
            "区县内排名分位",
            "Rank within district",
            "PLATFORM",
            ["top10", "top30", "middle", "bottom30", "bottom10"],
            freq="monthly",
        ),
        flag(
            "CRE_WHITELIST",
            c,
            "融资白名单",
            "On the financing white-list",
            "COUNTY",
            freq="monthly",
        ),
        flag(
            "CRE_WATCHLIST", c, "风险关注名单", "On the risk watch-list", "CREDIT", freq="monthly"
        ),
        grade(
            "CRE_GREEN_GRADE",
            c,
            "绿色评级",
            "Green rating",
            "EEB",
            ["dark_green", "green", "light_green", "none"],
        ),
        grade("CRE_ESG_GRADE", c, "ESG 评级", "ESG rating", "CREDIT", ["A", "B", "C", "D"]),
        grade(
            "CRE_CUSTOMS_RISK",
            c,
            "海关风险等级",
            "Customs risk grade",
            "CUSTOMS",
            ["low", "medium", "high"],
        ),
        grade(
            "CRE_LABOUR_RISK",
            c,
            "用工风险等级",
            "Labour risk grade",
            "HRSS",
            ["low", "medium", "high"],
        ),
        grade(
            "CRE_UTILITY_RISK",
            c,
            "能耗异常等级",
            "Utility anomaly grade",
            "POWER",
            ["normal", "watch", "abnormal"],
            freq="monthly",
        ),
        Ind(
            "CRE_RISK_SIGNALS",
            c,
            "风险信号数",
            "Active risk signals",
            "当前有效风险信号个数",
            "count",
            "count",
            "PLATFORM",
            "monthly",
            min_value="0",
        ),
    ]


def build() -> list[Ind]:
    return basic() + property_() + financial() + operating() + positive() + negative() + credit()


def main() -> int:
    inds = build()
    codes = [i.code for i in inds]
    dupes = {c for c in codes if codes.count(c) > 1}
    assert not dupes, f"duplicate codes: {sorted(dupes)}"
    n_key = sum(i.key for i in inds)
    n_warn = sum(i.warning for i in inds)
    print(f"{len(inds)} indicators, {n_key} key, {n_warn} warning")
    for cat in (
        "basic",
        "property",
        "financial",
        "operating",
        "positive",
        "negative",
        "credit_evaluation",
    ):
        print(f"  {cat}: {sum(i.category == cat for i in inds)}")
    if len(inds) != 595 or n_key != 50 or n_warn != 27:
        print("the catalog must have exactly 595 indicators, 50 key and 27 warning")
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for ind in inds:
            writer.writerow(ind.row())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
