"""What the demo company is like: its rates, shares, sizes and names, in one place to tune.

The numbers are chosen so that every KPI of KPIS.md has something to measure and looks like a B2B sales team:
per rep and month of history about 21 deals, 10 leads and 105 activities, a win rate around 25%, an NPS
around 35 and about 2% of the customers churning each month.
"""

from __future__ import annotations

import numpy as np

CRM = "demo"

# How busy a fully ramped rep is, per working day (Saturdays and Sundays see a trickle, see WEEKDAY_WEIGHT).
# With hires, leavers and ramp-up this gives, per rep and month of history: ~21 deals, ~10 leads, ~105 activities.
DEALS_PER_DAY = 1.015
LEADS_PER_DAY = 0.54
PROSPECTING_TOUCHES_PER_DAY = 2.5  # calls and emails to people who are not (yet) in a deal
DEAL_TOUCHES = (0.8, 0.05)  # activities on a deal: 0.8 at the start plus 0.05 per day it is worked
WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.05, 0.02])  # Monday .. Sunday

SEGMENTS = ("smb", "mid-market", "enterprise")
SEGMENT_SHARE = (0.55, 0.32, 0.13)
SEGMENT_MEDIAN_AMOUNT = np.array([5_000.0, 25_000.0, 120_000.0])
SEGMENT_CYCLE_DAYS = np.array([[15, 45], [30, 80], [60, 120]])  # a won deal's life, low and high
SEGMENT_WIN_FACTOR = np.array([1.1, 1.0, 0.8])  # big deals are harder to win

DEAL_TYPES = ("new", "upsell", "cross-sell", "renewal")
EXPANSION_SHARE = (0.45, 0.30, 0.25)  # of deals on existing customers: upsell, cross-sell, renewal
TYPE_AMOUNT_FACTOR = np.array([1.0, 0.35, 0.3, 0.8])
TYPE_LABEL = np.array(["new business", "upsell", "cross-sell", "renewal"], dtype=object)
EXPANSION_WIN_RATE = 0.5  # customers who already trust you say yes more often
PRODUCTS = np.array(["Platform", "Analytics", "Integrations", "Premium support"], dtype=object)
CONTRACT_MONTHS = (12, 24, 36, 0)  # 0: no term recorded
CONTRACT_SHARE = (0.45, 0.2, 0.15, 0.2)

STAGES = np.array(
    ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"], dtype=object
)
STAGE_PROBABILITY = np.array([0.1, 0.25, 0.5, 0.8, 1.0, 0.0])
PROPOSAL = 2  # index of the first stage at which a quote has been sent
WON_STAGE, LOST_STAGE = 4, 5
STATUSES = np.array(["open", "won", "lost"], dtype=object)
OPEN, WON, LOST = 0, 1, 2

LEAD_SOURCES = np.array(["referral", "website", "event", "outbound", "partner", "paid"], dtype=object)
LEAD_SOURCE_SHARE = (0.12, 0.30, 0.12, 0.25, 0.08, 0.13)
LEAD_SOURCE_MQL_RATE = np.array([0.6, 0.4, 0.45, 0.3, 0.5, 0.35])  # about 40% overall
SQL_RATE, CONVERSION_RATE, DISQUALIFY_RATE = 0.5, 0.6, 0.8

ACTIVITY_TYPES = np.array(["call", "meeting", "demo", "email"], dtype=object)
CALL, MEETING, DEMO, EMAIL = 0, 1, 2, 3
DEAL_TOUCH_MIX = (0.35, 0.18, 0.12, 0.35)  # call, meeting, demo, email
PROSPECTING_CALL_SHARE = 0.6  # the rest are emails

NPS_SCORE_SHARE = (0.01, 0.01, 0.01, 0.02, 0.03, 0.04, 0.06, 0.12, 0.20, 0.24, 0.26)  # 0..10, NPS about 35
NPS_SCORE_SHARE_CHURNED = (0.04, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.12, 0.08, 0.06)

REGION_NAMES = ("West", "East", "Central", "EMEA", "APAC", "LATAM", "North", "South", "Nordics", "DACH", "ANZ")
FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura",
    "Ryan", "Sharon", "Jacob", "Cynthia", "Gary", "Kathleen", "Nicholas", "Amy", "Eric", "Angela",
    "Priya", "Wei", "Fatima", "Diego",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Campbell", "Parker", "Evans", "Edwards",
    "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed",
    "Patel", "Chen", "Kim", "Okafor",
)  # fmt: skip
COMPANY_WORDS = (
    ("Acme", "Apex", "Blue", "Bright", "Cedar", "Clear", "Copper", "Crystal", "Delta", "Eagle", "Ember", "First",
     "Golden", "Granite", "Green", "Harbor", "Iron", "Lake", "Maple", "Meridian", "North", "Nova", "Oak",
     "Orbit", "Pacific", "Pine", "Prime", "Quantum", "Red", "River", "Silver", "Solar", "Stone", "Summit",
     "True", "Union", "Vertex", "West", "Willow", "Zenith"),
    ("Arc", "Bay", "Bridge", "Cloud", "Crest", "Field", "Forge", "Gate", "Grove", "Hill", "Key", "Leaf",
     "Line", "Link", "Loop", "Mark", "Mill", "Path", "Peak", "Point", "Port", "Ridge", "Rock", "Sky", "Spring",
     "Star", "Stream", "Tide", "Tower", "Trail", "Vale", "View", "Wave", "Way", "Well", "Wind", "Wood", "Works",
     "Yard", "Zone"),
    ("Analytics", "Bank", "Capital", "Construction", "Consulting", "Dental", "Energy", "Foods", "Freight",
     "Group", "Health", "Hotels", "Insurance", "Labs", "Logistics", "Media", "Motors", "Partners", "Retail",
     "Systems"),
)  # fmt: skip

NO_INDEX = -1
