"""The simulated shop behind the sample sources, with a known truth behind it.

The data is realistic enough that the models have something true to find:

* **People with latent traits.** Each person has a purchase rate (gamma, orders a year), a
  churn hazard (beta: the chance of dropping out after each purchase, as in BG/NBD), a spend
  level (log-normal), category preferences (Dirichlet), price sensitivity, discount sensitivity,
  an appetite for higher tiers and a channel preference. About a quarter never buy (CRM leads).
* **Behaviour driven by the traits.** Orders arrive as a thinned Poisson process with yearly
  seasonality (a November–December peak, a summer dip) and sale weeks (Black Friday, January)
  that discount-sensitive people answer more; buying in a category raises the pull of its
  complementary categories (cross-sell); a family already owned is upgraded to the next tier with
  a chance set by the appetite for tiers (upsell). Web sessions precede purchases (research
  visits with views and abandoned carts in the two weeks before), and people keep browsing while
  active and mostly stop after they drop out.
* **Campaigns with a holdout** (``CAMPAIGNS``). Each goes to the past buyers reachable by email
  or SMS; a tenth are kept back at random, the rest get one offer (a product pick, free shipping,
  10 % or 20 % off) on one channel, both drawn at random. Whether it causes an order in the next
  two weeks depends on the person's discount and price sensitivity, category appetite and
  channel preference (the truth: ``_ground_truth/campaign_sends``), on top of what they would
  have bought anyway, so lift can be measured and uplift learned.
* **Messy identity.** Guest checkouts (email only) that later create an account and log in;
  people with a second email and up to three devices (cookies); CRM contacts who never buy; an
  email changed in the CRM (two versions of the contact row); colleagues sharing a company and
  its role address (info@...); consent flags and erasure requests.
* **Dirty rows at documented rates** (``DIRTY_RATES``, per clean row of the table): bad
  timestamps, missing ids, unknown currencies, negative quantities and exact duplicates, each
  listed in the ground truth so that tests can reconcile quarantine counts exactly. Test orders
  (``is_test``, ``TEST_ORDER_RATE``), junk contacts on ``test@`` addresses (``JUNK_CONTACT_RATE``)
  and one cookie shared by many logged-in users (``SHARED_COOKIE_RATE`` of people) are planted.

The source modules write files as a real export would: CSV for CRM and shop, JSON lines for web events,
one part file per chunk of people, so memory stays bounded at any size. A separate ground truth
(`_ground_truth/`: the person behind each identifier, the latent traits, the dirty rows) is for
tests only; ingestion never reads it. Output is deterministic for (customers, seed, end date).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nextsale.config import CURRENCY_RATES_SEED

CHUNK_SIZE = 20_000  # people per part file; fixed so that output does not depend on machine size
HISTORY_DAYS = 4 * 365
SECONDS_PER_DAY = 86_400

DIRTY_RATES: dict[str, dict[str, float]] = {
    "shop_orders": {
        "bad_timestamp": 0.002,
        "missing_id": 0.001,
        "unknown_currency": 0.001,
        "exact_duplicate": 0.005,
    },
    "shop_order_lines": {"negative_quantity": 0.002, "missing_id": 0.001, "exact_duplicate": 0.005},
    "web_events": {"bad_timestamp": 0.002, "missing_id": 0.001, "exact_duplicate": 0.005},
    "crm_contacts": {"bad_timestamp": 0.002, "missing_id": 0.001, "exact_duplicate": 0.005},
}
DIRT_CODES = {
    "bad_timestamp": 1,
    "missing_id": 2,
    "unknown_currency": 3,
    "negative_quantity": 4,
    "exact_duplicate": 5,
}
TEST_ORDER_RATE = 0.003
# (campaign id, days before the end of history it was sent)
CAMPAIGNS = (("C01", 150), ("C02", 120), ("C03", 90), ("C04", 60), ("C05", 30))
OFFERS = (("product", None), ("free_shipping", None), ("discount", "10"), ("discount", "20"))
CAMPAIGN_HOLDOUT = 0.10
ATTRIBUTION_DAYS = 14  # a campaign's orders come within two weeks of the send
WIN_BACK_DAYS = 120  # past buyers silent this long are the win_back audience
JUNK_CONTACT_RATE = 0.002
SHARED_COOKIE_RATE = 0.01  # of people, at least 5 a chunk
SHARED_COOKIE = "0000000000.shared-kiosk"
BAD_TIMESTAMPS = ("2024-02-30T10:15:00Z", "31/12/2024 10:15", "not-a-date", "2025-13-01T00:00:00Z")

CATALOGUE: dict[str, tuple[tuple[str, float], ...]] = {
    "Coffee": (("Espresso Machine", 180), ("Grinder", 90), ("Milk Frother", 45), ("Kettle", 35)),
    "Kitchen": (("Blender", 70), ("Knife Set", 60), ("Cookware Set", 140), ("Stand Mixer", 220)),
    "Fitness": (("Treadmill", 600), ("Dumbbells", 80), ("Yoga Mat", 30), ("Rower", 450)),
    "Outdoor": (("Tent", 160), ("Backpack", 70), ("Sleeping Bag", 90), ("Camp Stove", 55)),
    "Audio": (("Headphones", 120), ("Speaker", 80), ("Soundbar", 250), ("Turntable", 200)),
    "Home Office": (("Office Chair", 230), ("Desk", 400), ("Monitor Arm", 60), ("Lamp", 40)),
    "Garden": (("Lawn Mower", 300), ("Hose Reel", 45), ("Pruning Shears", 25), ("Grill", 350)),
    "Pets": (("Dog Bed", 55), ("Cat Tree", 90), ("Pet Camera", 110), ("Aquarium", 130)),
}
CATEGORIES = tuple(CATALOGUE)
TIERS = ((1, "Essential", 1.0, 0.22), (2, "Plus", 1.7, 0.30), (3, "Premium", 2.9, 0.38))
COMPLEMENTS = (
    ("Coffee", "Kitchen"),
    ("Fitness", "Outdoor"),
    ("Audio", "Home Office"),
    ("Garden", "Outdoor"),
    ("Pets", "Garden"),
)
COMPLEMENT_PULL = 1.2  # added preference weight per owned complementary category
INACTIVE_PRODUCTS = ("Turntable Premium", "Kettle Premium", "Aquarium Premium")

# country, currency, UTC offset in hours (fixed: offsets in exports are correct either way), share
COUNTRIES = (
    ("US", "USD", -5, 0.45),
    ("GB", "GBP", 0, 0.20),
    ("DE", "EUR", 1, 0.15),
    ("FR", "EUR", 1, 0.10),
    ("SE", "SEK", 1, 0.05),
    ("CA", "CAD", -5, 0.05),
)
CHANNELS = (  # utm_source, utm_medium, share of acquisitions
    (None, None, 0.25),
    ("google", "organic", 0.25),
    ("google", "cpc", 0.2),
    ("newsletter", "email", 0.1),
    ("facebook", "paid_social", 0.15),
    ("affiliate", "referral", 0.05),
)
FIRST_NAMES = (
    "james mary john patricia robert jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen lucas emma noah olivia liam ava "
    "oliver sophia elias mia hugo lea felix alice oscar ella leo julia"
).split()
LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis martin wilson anderson taylor "
    "thomas moore jackson white harris clark lewis walker hall young king wright scott green "
    "baker adams nelson hill muller schmidt schneider dubois laurent bernard andersson "
    "johansson karlsson"
).split()
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "gmx.de")
INDUSTRIES = ("retail", "hospitality", "software", "health", "education", "manufacturing")
COMPANY_WORDS = "north bright oak river summit blue harbor maple stone pine".split()
COMPANY_SUFFIXES = "labs works studio group partners co".split()
EVENT_NAMES = (
    "page_view",
    "view_item",
    "add_to_cart",
    "begin_checkout",
    "purchase",
    "form_submit",
)
PV, VIEW, CART, CHECKOUT, PURCHASE, FORM = range(6)


def catalogue() -> pd.DataFrame:
    rows: list[dict] = []
    for c, category in enumerate(CATEGORIES):
        for f, (family, base_price) in enumerate(CATALOGUE[category]):
            for tier, tier_name, price_factor, margin in TIERS:
                name = f"{family} {tier_name}"
                rows.append(
                    {
                        "product_idx": len(rows),
                        "product_id": f"SKU-{10000 + 100 * c + 10 * f + tier}",
                        "name": name,
                        "category": category,
                        "category_idx": c,
                        "family": family,
                        "family_idx": c * 4 + f,
                        "tier": tier,
                        "price": round(base_price * price_factor, 0) - 0.01,
                        "margin_rate": margin + 0.01 * ((c + f) % 3),
                        "active": name not in INACTIVE_PRODUCTS,
                    }
                )
    return pd.DataFrame(rows)


def _complement_matrix() -> np.ndarray:
    m = np.zeros((len(CATEGORIES), len(CATEGORIES)))
    for a, b in COMPLEMENTS:
        i, j = CATEGORIES.index(a), CATEGORIES.index(b)
        m[i, j] = m[j, i] = COMPLEMENT_PULL
    return m


def _day_of_year(days: np.ndarray) -> np.ndarray:
    d = np.floor(days).astype("int64").astype("datetime64[D]")
    return (d - d.astype("datetime64[Y]")).astype("int64") + 1


def _seasonality(days: np.ndarray) -> np.ndarray:
    doy = _day_of_year(days)
    return (
        1.0
        + 0.9 * np.exp(-(((doy - 340) / 18.0) ** 2))
        - 0.25 * np.exp(-(((doy - 200) / 35.0) ** 2))
    )


def _is_sale(days: np.ndarray) -> np.ndarray:
    doy = _day_of_year(days)
    return ((doy >= 328) & (doy <= 335)) | (doy <= 10)


SEASON_MAX = 1.9
SALE_BOOST = 1.5


def _choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a matrix of (unnormalised) probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return (cum < u[:, None]).sum(axis=1)


def offer_effect(
    people: pd.DataFrame, offer_type: str, offer_value: str | None, channel: str
) -> np.ndarray:
    """The planted truth: the chance that sending this offer on this channel causes an order
    in the attribution window, per person (`people` has the latent traits: the persons ground
    truth, or the generator's own frame). Discounts work on the discount-sensitive, free
    shipping on the price-sensitive, a product pick on people with one strong category; the
    channel scales it (SMS by the person's SMS preference, email by the rest of it)."""
    top_pref = people[[c for c in people.columns if c.startswith("pref_")]].max(axis=1).to_numpy()
    base = {
        ("product", None): 0.10 * top_pref,
        ("free_shipping", None): 0.10 * people["price_sensitivity"].to_numpy(),
        ("discount", "10"): 0.12 * people["discount_sensitivity"].to_numpy(),
        ("discount", "20"): 0.25 * people["discount_sensitivity"].to_numpy(),
    }[(offer_type, offer_value)]
    sms = people["sms_preference"].to_numpy()
    return base * (sms if channel == "sms" else 1 - sms)


class Chunk:
    """Simulates one chunk of people; every array is indexed by position in the chunk."""

    def __init__(
        self,
        rng: np.random.Generator,
        first_pid: int,
        n: int,
        start_day: float,
        end_day: float,
        n_companies: int,
        products: pd.DataFrame,
    ) -> None:
        self.rng, self.n, self.start, self.end = rng, n, start_day, end_day
        self.products = products
        self.people = self._people(first_pid, n_companies)

    # -- people --------------------------------------------------------------------------------
    def _people(self, first_pid: int, n_companies: int) -> pd.DataFrame:
        rng, n = self.rng, self.n
        pid = np.arange(first_pid, first_pid + n)
        country = rng.choice(len(COUNTRIES), n, p=[c[3] for c in COUNTRIES])
        # Acquisition grows over time: more people joined recently.
        acquired = self.start + (self.end - self.start) * rng.random(n) ** 0.8
        is_buyer = rng.random(n) < 0.75
        guest_orders = np.where(
            rng.random(n) < 0.7, 0, np.where(rng.random(n) < 0.67, rng.integers(1, 3, n), 10_000)
        )
        is_b2b = rng.random(n) < 0.15
        company = np.where(is_b2b, (pid * 7919) % max(n_companies, 1), -1)
        first = rng.choice(FIRST_NAMES, n)
        last = rng.choice(LAST_NAMES, n)
        domain = rng.choice(FREE_MAIL, n)
        company_domain = pd.Series(company).map(_company_domain)
        email1 = pd.Series(first) + "." + pd.Series(last) + pid.astype(str) + "@"
        email1 = email1 + np.where(is_b2b, company_domain, domain)
        email2 = pd.Series(first) + pd.Series(last).str[0] + pid.astype(str) + "@"
        email2 = email2 + rng.choice(FREE_MAIL, n)
        pref = rng.dirichlet(np.full(len(CATEGORIES), 0.35), n)
        email_opt_in = rng.random(n) < 0.65
        people = pd.DataFrame(
            {
                "pid": pid,
                "first_name": first,
                "last_name": last,
                "email1": email1,
                "email2": np.where(rng.random(n) < 0.10, email2, None),
                "old_email": np.where(
                    rng.random(n) < 0.05,
                    pd.Series(first) + "_" + pd.Series(last) + pid.astype(str) + "@aol.com",
                    None,
                ),
                "country_idx": country,
                "country": np.array([c[0] for c in COUNTRIES])[country],
                "offset_h": np.array([c[2] for c in COUNTRIES])[country],
                "company_id": np.where(
                    is_b2b, "CO" + pd.Series(company).astype(str).str.zfill(6), None
                ),
                "company_domain": company_domain,
                "acquired_day": acquired,
                "acquisition_channel": rng.choice(len(CHANNELS), n, p=[c[2] for c in CHANNELS]),
                "is_buyer": is_buyer,
                "in_crm": ~is_buyer | (rng.random(n) < 0.85),
                "is_b2b": is_b2b,
                "company_idx": company,
                "guest_orders": guest_orders,
                "n_devices": rng.integers(1, 4, n),
                "shares_cookie": _shared_cookie_users(rng, is_buyer & (guest_orders == 0)),
                "purchase_rate": rng.gamma(1.4, 2.4, n),
                "dropout_p": rng.beta(1.3, 4.0, n),
                "spend_level": rng.lognormal(0.0, 0.45, n),
                "price_sensitivity": rng.random(n),
                "discount_sensitivity": rng.beta(2.0, 3.0, n),
                "tier_appetite": rng.beta(2.0, 4.0, n),
                "sms_preference": rng.beta(1.5, 4.0, n),
                "email_opt_in": email_opt_in,
                "sms_opt_in": rng.random(n) < 0.25,
                "do_not_contact": rng.random(n) < 0.02,
                "erasure_requested": rng.random(n) < 0.005,
            }
        )
        for c, category in enumerate(CATEGORIES):
            people[f"pref_{category}"] = pref[:, c]
        self.pref = pref
        return people

    # -- orders --------------------------------------------------------------------------------
    def orders(self) -> pd.DataFrame:
        rng, p = self.rng, self.people
        n = self.n
        rate = p["purchase_rate"].to_numpy() / 365.0
        ds = p["discount_sensitivity"].to_numpy()
        dropout = p["dropout_p"].to_numpy()
        t = p["acquired_day"].to_numpy() + rng.exponential(10.0, n)
        alive = p["is_buyer"].to_numpy() & (t < self.end)
        lapsed_day = np.full(n, np.nan)
        rec_person, rec_day = [np.flatnonzero(alive)], [t[alive]]

        def drop(idx: np.ndarray) -> None:
            died = idx[rng.random(len(idx)) < dropout[idx]]
            alive[died] = False
            lapsed_day[died] = t[died] + rng.exponential(30.0, len(died))

        drop(np.flatnonzero(alive))
        while alive.any():
            idx = np.flatnonzero(alive)
            ceiling = SEASON_MAX * (1 + SALE_BOOST * ds[idx])
            t[idx] += rng.exponential(1.0 / (rate[idx] * ceiling))
            past = t[idx] >= self.end
            alive[idx[past]] = False
            cand = idx[~past]
            intensity = _seasonality(t[cand]) * (1 + SALE_BOOST * ds[cand] * _is_sale(t[cand]))
            accepted = cand[rng.random(len(cand)) * ceiling[~past] < intensity]
            rec_person.append(accepted)
            rec_day.append(t[accepted])
            drop(accepted)
        p["lapsed_day"] = lapsed_day
        person = np.concatenate(rec_person)
        day = np.concatenate(rec_day)
        order = np.lexsort((day, person))
        orders = pd.DataFrame({"person": person[order], "day": day[order]})
        orders["seq"] = orders.groupby("person").cumcount()
        return orders

    def campaigns(
        self, rng: np.random.Generator, orders: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The sends of every campaign (holdouts included) and the orders they caused, added
        to `orders` (returned re-sorted, with `campaign_discount` on the caused ones)."""
        p = self.people
        reach_email = p["email_opt_in"].to_numpy() & ~p["do_not_contact"].to_numpy()
        reach_sms = p["sms_opt_in"].to_numpy() & ~p["do_not_contact"].to_numpy()
        person, day = orders["person"].to_numpy(), orders["day"].to_numpy()
        sends, caused = [], []
        for campaign, days_before in CAMPAIGNS:
            sent_day = self.end - days_before + 0.4  # mid-morning UTC
            last = np.full(self.n, -np.inf)
            before = day < sent_day
            np.maximum.at(last, person[before], day[before])
            members = np.flatnonzero(np.isfinite(last) & (reach_email | reach_sms))
            m = len(members)
            holdout = rng.random(m) < CAMPAIGN_HOLDOUT
            offer = rng.integers(0, len(OFFERS), m)
            both = reach_email[members] & reach_sms[members]
            channel = np.where(
                both,
                np.where(rng.random(m) < 0.5, "sms", "email"),
                np.where(reach_sms[members], "sms", "email"),
            )
            effect = np.zeros(m)
            for k, (offer_type, offer_value) in enumerate(OFFERS):
                for medium in ("email", "sms"):
                    chosen = (offer == k) & (channel == medium)
                    effect[chosen] = offer_effect(
                        p.iloc[members[chosen]], offer_type, offer_value, medium
                    )
            effect = np.where(holdout, 0.0, effect)
            responded = rng.random(m) < effect
            sent_types = np.array([o[0] for o in OFFERS], dtype=object)[offer]
            sent_values = np.array([o[1] for o in OFFERS], dtype=object)[offer]
            sends.append(
                pd.DataFrame(
                    {
                        "person": members,
                        "campaign_id": campaign,
                        "audience": np.where(
                            sent_day - last[members] > WIN_BACK_DAYS, "win_back", "past_buyers"
                        ),
                        "offer_type": np.where(holdout, np.array(None), sent_types),
                        "offer_value": np.where(holdout, np.array(None), sent_values),
                        "channel": channel,
                        "sent_day": sent_day,
                        "is_holdout": holdout,
                        "true_effect": effect,
                        "responded": responded,
                    }
                )
            )
            who = members[responded]
            caused.append(
                pd.DataFrame(
                    {
                        "person": who,
                        "day": sent_day
                        + np.minimum(rng.exponential(3.0, len(who)), ATTRIBUTION_DAYS - 1),
                        "campaign_discount": np.where(
                            sent_types[responded] == "discount",
                            pd.to_numeric(pd.Series(sent_values[responded]), errors="coerce") / 100,
                            np.nan,
                        ),
                    }
                )
            )
        orders = pd.concat([orders.drop(columns="seq"), *caused], ignore_index=True)
        orders = orders[orders["day"] < self.end]
        orders = orders.sort_values(["person", "day"], kind="stable", ignore_index=True)
        orders["seq"] = orders.groupby("person").cumcount()
        return pd.concat(sends, ignore_index=True), orders

    def lines(self, orders: pd.DataFrame) -> pd.DataFrame:
        """Products per order; category choice follows preferences and complements owned."""
        rng, p = self.rng, self.people
        n_cat, n_fam = len(CATEGORIES), len(CATEGORIES) * 4
        owned_cat = np.zeros((self.n, n_cat))
        max_tier = np.zeros((self.n, n_fam), dtype=np.int8)
        comp = _complement_matrix()
        appetite = p["tier_appetite"].to_numpy()
        price_sens = p["price_sensitivity"].to_numpy()
        spend = p["spend_level"].to_numpy()
        out_order, out_product, out_qty = [], [], []
        seq = orders["seq"].to_numpy()
        person_of_order = orders["person"].to_numpy()
        for k in range(seq.max() + 1 if len(seq) else 0):
            rows = np.flatnonzero(seq == k)
            who = person_of_order[rows]
            n_lines = 1 + np.minimum(rng.poisson(0.25 + 0.35 * spend[who]), 4)
            for j in range(n_lines.max()):
                take = n_lines > j
                r, w = rows[take], who[take]
                probs = (
                    self.pref[w] + (owned_cat[w] > 0) @ comp * self.pref[w].mean(axis=1)[:, None]
                )
                cat = _choice(rng, probs)
                fam = cat * 4 + rng.integers(0, 4, len(w))
                current = max_tier[w, fam]
                u = rng.random(len(w))
                upper = 0.55 * appetite[w] * (1 - 0.5 * price_sens[w])
                new_tier = np.where(u < upper * 0.35, 3, np.where(u < upper, 2, 1))
                upgrade = rng.random(len(w)) < 0.6 * appetite[w]
                owned_tier = np.where(upgrade, np.minimum(current + 1, 3), current)
                tier = np.where(current == 0, new_tier, owned_tier)
                owned_cat[w, cat] += 1
                max_tier[w, fam] = np.maximum(current, tier)
                out_order.append(r)
                out_product.append(fam * 3 + tier - 1)
                out_qty.append(1 + rng.poisson(0.15 * spend[w]))
        lines = pd.DataFrame(
            {
                "order_row": np.concatenate(out_order) if out_order else np.array([], int),
                "product_idx": np.concatenate(out_product) if out_product else np.array([], int),
                "quantity": np.concatenate(out_qty) if out_qty else np.array([], int),
            }
        ).sort_values("order_row", kind="stable", ignore_index=True)
        lines["line_no"] = lines.groupby("order_row").cumcount() + 1
        return lines

    def price_orders(
        self, orders: pd.DataFrame, lines: pd.DataFrame, usd_per_unit: dict[str, float]
    ) -> None:
        """Local-currency prices, sale and promo discounts, shipping and status."""
        rng, p = self.rng, self.people
        currency = np.array([c[1] for c in COUNTRIES])[p["country_idx"].to_numpy()]
        rate = np.array([usd_per_unit[c] for c in currency])
        who = orders["person"].to_numpy()
        orders["currency"] = currency[who]
        order_rate = rate[who]
        ds = p["discount_sensitivity"].to_numpy()[who]
        on_sale = _is_sale(orders["day"].to_numpy())
        promo = rng.random(len(orders)) < 0.15 * ds
        orders["discount_rate"] = np.where(
            on_sale & (rng.random(len(orders)) < 0.3 + 0.7 * ds), 0.20, np.where(promo, 0.10, 0.0)
        )
        # an order a discount campaign caused carries that campaign's discount
        campaign = orders["campaign_discount"].to_numpy(dtype=float)
        orders["discount_rate"] = np.where(np.isnan(campaign), orders["discount_rate"], campaign)
        price_usd = self.products["price"].to_numpy()[lines["product_idx"].to_numpy()]
        line_rate = order_rate[lines["order_row"].to_numpy()]
        lines["unit_price"] = np.round(np.round(price_usd / line_rate, 0) - 0.01, 2)
        gross = lines["unit_price"].to_numpy() * lines["quantity"].to_numpy()
        lines["discount"] = np.round(
            gross * orders["discount_rate"].to_numpy()[lines["order_row"].to_numpy()], 2
        )
        n = len(orders)
        subtotal = np.bincount(lines["order_row"], weights=gross, minlength=n)
        discount = np.bincount(lines["order_row"], weights=lines["discount"], minlength=n)
        shipping = np.where(
            subtotal - discount >= 75 / order_rate, 0.0, np.round(5.95 / order_rate, 2)
        )
        orders["subtotal"] = np.round(subtotal, 2)
        orders["discount"] = np.round(discount, 2)
        orders["shipping"] = shipping
        orders["total"] = np.round(subtotal - discount + shipping, 2)
        orders["status"] = rng.choice(["paid", "refunded", "cancelled"], n, p=[0.95, 0.03, 0.02])
        # Identity on the order: guest checkouts carry only an email until an account exists.
        has_account = orders["seq"].to_numpy() >= p["guest_orders"].to_numpy()[who]
        orders["has_account"] = has_account
        second = p["email2"].notna().to_numpy()[who] & has_account & (rng.random(n) < 0.35)
        orders["email_kind"] = np.where(second, 2, 1)
        orders["messy_email"] = rng.random(n) < 0.03

    def crm_fields(self, orders: pd.DataFrame) -> None:
        """Lifecycle, last update, deals and erasure requests, derived from what happened."""
        rng, p, n = self.rng, self.people, self.n
        n_orders = np.bincount(orders["person"], minlength=n)
        p["n_orders"] = n_orders
        p["lifecycle_stage"] = np.select(
            [n_orders >= 8, n_orders > 0, rng.random(n) < 0.5],
            ["evangelist", "customer", "lead"],
            "subscriber",
        )
        acquired = p["acquired_day"].to_numpy()
        p["created_day"] = acquired - rng.uniform(0, 2, n)
        p["updated_day"] = acquired + (self.end - acquired) * rng.random(n)
        # An email changed in the CRM: the old version of the row was updated before the new one.
        p["old_updated_day"] = acquired + (p["updated_day"].to_numpy() - acquired) * rng.random(n)
        p["has_deal"] = p["is_b2b"].to_numpy() & p["in_crm"].to_numpy() & (rng.random(n) < 0.4)
        p["deal_stage"] = rng.choice(
            ["closedwon", "closedlost", "contractsent", "qualifiedtobuy"], n, p=[0.5, 0.3, 0.1, 0.1]
        )
        p["deal_amount"] = np.round(rng.lognormal(7.5, 0.8, n), 2)
        p["deal_created_day"] = acquired + (self.end - acquired) * rng.random(n) * 0.8
        p["deal_closed_day"] = np.where(
            np.isin(p["deal_stage"], ["closedwon", "closedlost"]),
            np.minimum(p["deal_created_day"] + rng.exponential(30, n), self.end - 0.01),
            np.nan,
        )
        p["erasure_day"] = self.end - rng.uniform(1, 120, n)
        p["phone"] = np.where(
            p["sms_opt_in"] | (rng.random(n) < 0.3),
            "+" + pd.Series(rng.integers(10**10, 10**11, n)).astype(str),
            None,
        )
        p["lead_source"] = [CHANNELS[c][0] or "direct" for c in p["acquisition_channel"]]
        # A CRM synced from the shop records the account id for most people who have one.
        has_account = np.zeros(n, dtype=bool)
        has_account[orders.loc[orders["has_account"], "person"].to_numpy()] = True
        p["crm_knows_account"] = has_account & (rng.random(n) < 0.7)

    # -- web sessions ---------------------------------------------------------------------------
    def sessions(
        self, orders: pd.DataFrame, lines: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng, p = self.rng, self.people
        n = self.n
        acquired = p["acquired_day"].to_numpy()
        lapsed = p["lapsed_day"].to_numpy()
        active_until = np.where(np.isnan(lapsed), self.end, np.minimum(lapsed, self.end))
        account_day = np.full(n, np.inf)
        with_account = orders[orders["has_account"]]
        first_account = with_account.groupby("person")["day"].min()
        account_day[first_account.index.to_numpy()] = first_account.to_numpy()
        parts = []

        # Purchase sessions: one per order, logged in when the order has an account.
        o_person = orders["person"].to_numpy()
        n_lines = np.bincount(lines["order_row"], minlength=len(orders))
        parts.append(
            pd.DataFrame(
                {
                    "person": o_person,
                    "start_day": orders["day"].to_numpy() - (90 + 30 * n_lines) / SECONDS_PER_DAY,
                    "kind": 0,
                    "order_row": np.arange(len(orders)),
                    "logged_in": orders["has_account"].to_numpy(),
                }
            )
        )
        # Research sessions in the two weeks before an order (the intent the models should see).
        n_research = rng.poisson(0.9, len(orders))
        r_order = np.repeat(np.arange(len(orders)), n_research)
        r_person = o_person[r_order]
        r_day = orders["day"].to_numpy()[r_order] - rng.uniform(1, 14, len(r_order))
        keep = r_day > np.maximum(acquired[r_person], self.start)
        parts.append(
            pd.DataFrame(
                {
                    "person": r_person[keep],
                    "start_day": r_day[keep],
                    "kind": 1,
                    "order_row": r_order[keep],
                    "logged_in": (r_day[keep] > account_day[r_person[keep]])
                    & (rng.random(keep.sum()) < 0.6),
                }
            )
        )
        # Browsing: more while active (engaged buyers browse more), little after lapsing.
        years_active = np.maximum(active_until - acquired, 0) / 365
        years_lapsed = np.maximum(self.end - active_until, 0) / 365
        browse_rate = 1.0 + 0.6 * p["purchase_rate"].to_numpy()
        n_active = rng.poisson(browse_rate * years_active)
        n_lapsed = rng.poisson(0.4 * years_lapsed)
        b_person = np.concatenate(
            [np.repeat(np.arange(n), n_active), np.repeat(np.arange(n), n_lapsed)]
        )
        lo = np.concatenate([np.repeat(acquired, n_active), np.repeat(active_until, n_lapsed)])
        hi = np.concatenate(
            [np.repeat(active_until, n_active), np.repeat(np.full(n, self.end), n_lapsed)]
        )
        b_day = lo + (hi - lo) * rng.random(len(lo))
        parts.append(
            pd.DataFrame(
                {
                    "person": b_person,
                    "start_day": b_day,
                    "kind": 2,
                    "order_row": -1,
                    "logged_in": (b_day > account_day[b_person]) & (rng.random(len(b_day)) < 0.6),
                }
            )
        )
        # Leads sign up through a form in a first visit right after they are acquired.
        leads = np.flatnonzero(~p["is_buyer"].to_numpy())
        parts.append(
            pd.DataFrame(
                {
                    "person": leads,
                    "start_day": acquired[leads] + rng.uniform(0, 0.5, len(leads)),
                    "kind": 3,
                    "order_row": -1,
                    "logged_in": False,
                }
            )
        )
        # Visitors who are never identified.
        n_anon = int(0.3 * n)
        parts.append(
            pd.DataFrame(
                {
                    "person": -1 - np.arange(n_anon),
                    "start_day": self.start + (self.end - self.start) * rng.random(n_anon),
                    "kind": 4,
                    "order_row": -1,
                    "logged_in": False,
                }
            )
        )
        sessions = pd.concat(parts, ignore_index=True)
        sessions = sessions[
            (sessions["start_day"] >= self.start) & (sessions["start_day"] < self.end)
        ]
        sessions = sessions.sort_values(["start_day"], kind="stable", ignore_index=True)
        known = sessions["person"].to_numpy() >= 0
        person_safe = np.where(known, sessions["person"].to_numpy(), 0)
        sessions["device"] = np.where(
            known, rng.integers(0, 3, len(sessions)) % p["n_devices"].to_numpy()[person_safe], 0
        )
        sessions["shared_cookie"] = (
            known
            & p["shares_cookie"].to_numpy()[person_safe]
            & (sessions["device"].to_numpy() == 0)
        )
        # A shared computer is where several people log in to their own accounts.
        has_account = known & (sessions["start_day"].to_numpy() > account_day[person_safe])
        sessions["logged_in"] = sessions["logged_in"].to_numpy() | (
            sessions["shared_cookie"].to_numpy() & has_account
        )
        first_visit = known & ~pd.Series(sessions["person"]).duplicated().to_numpy()
        channel = rng.choice(len(CHANNELS), len(sessions), p=[c[2] for c in CHANNELS])
        channel = np.where(first_visit, p["acquisition_channel"].to_numpy()[person_safe], channel)
        sessions["channel"] = np.where(rng.random(len(sessions)) < 0.5, 0, channel)
        sessions.loc[first_visit, "channel"] = channel[first_visit]
        sessions["utm_source"] = [CHANNELS[c][0] for c in sessions["channel"]]
        sessions["utm_medium"] = [CHANNELS[c][1] for c in sessions["channel"]]
        return sessions, self._events(sessions, orders, lines)

    def _events(
        self, sessions: pd.DataFrame, orders: pd.DataFrame, lines: pd.DataFrame
    ) -> pd.DataFrame:
        rng, p, products = self.rng, self.people, self.products
        kind = sessions["kind"].to_numpy()
        person = sessions["person"].to_numpy()
        person_safe = np.maximum(person, 0)
        parts = []

        def add(session_rows, name, offset_s, product=-1, email_kind=0):
            parts.append(
                pd.DataFrame(
                    {
                        "session_row": session_rows,
                        "event": name,
                        "offset_s": offset_s,
                        "product_idx": product,
                        "email_kind": email_kind,
                    }
                )
            )

        all_rows = np.arange(len(sessions))
        add(all_rows, PV, 0.0)

        # Purchases: view and add each line's product, check out, buy.
        buy = np.flatnonzero(kind == 0)
        order_of_session = pd.Series(buy, index=sessions["order_row"].to_numpy()[buy])
        line_session = order_of_session.reindex(lines["order_row"].to_numpy()).to_numpy()
        has = ~np.isnan(line_session)
        ls = line_session[has].astype(np.int64)
        lno = lines["line_no"].to_numpy()[has]
        lprod = lines["product_idx"].to_numpy()[has]
        add(ls, VIEW, 30.0 * lno - 20, lprod)
        add(ls, CART, 30.0 * lno - 10, lprod)
        n_lines = np.bincount(lines["order_row"], minlength=len(orders))[
            sessions["order_row"].to_numpy()[buy]
        ]
        add(buy, CHECKOUT, 30.0 * n_lines + 30)
        add(buy, PURCHASE, 30.0 * n_lines + 60)

        # Research: the family bought next, sometimes a tier up (appetite), sometimes carted.
        research = np.flatnonzero(kind == 1)
        first_line = lines.drop_duplicates("order_row").set_index("order_row")["product_idx"]
        target = first_line.reindex(sessions["order_row"].to_numpy()[research]).to_numpy()
        ok = ~np.isnan(target)
        research, target = research[ok], target[ok].astype(np.int64)
        n_views = 1 + rng.poisson(1.0, len(research))
        rv_session = np.repeat(research, n_views)
        rv_target = np.repeat(target, n_views)
        tier = products["tier"].to_numpy()[rv_target]
        appetite = p["tier_appetite"].to_numpy()[person_safe[rv_session]]
        up = (tier < 3) & (rng.random(len(rv_session)) < appetite)
        add(rv_session, VIEW, 40.0 * (1 + _rank_within(rv_session)), rv_target + up)
        carted = research[rng.random(len(research)) < 0.35]
        add(
            carted,
            CART,
            40.0 * (2 + n_views[np.searchsorted(research, carted)]),
            target[np.searchsorted(research, carted)],
        )

        # Browsing: products from preferred categories; some carts are abandoned.
        browse = np.flatnonzero((kind == 2) | (kind == 4))
        n_views = rng.poisson(1.4, len(browse))
        bv_session = np.repeat(browse, n_views)
        owner = person[bv_session]
        pref = np.where((owner >= 0)[:, None], self.pref[np.maximum(owner, 0)], 1.0)
        cat = _choice(rng, pref)
        bv_product = (cat * 4 + rng.integers(0, 4, len(cat))) * 3 + rng.choice(
            3, len(cat), p=[0.55, 0.3, 0.15]
        )
        add(bv_session, VIEW, 35.0 * (1 + _rank_within(bv_session)), bv_product)
        abandon = rng.random(len(bv_session)) < 0.08
        add(
            bv_session[abandon],
            CART,
            35.0 * (1 + _rank_within(bv_session)[abandon]) + 15,
            bv_product[abandon],
        )

        # Forms: every lead once; some buyers subscribe; some B2B people use the company address.
        lead_forms = np.flatnonzero(kind == 3)
        add(lead_forms, FORM, 25.0, email_kind=1)
        browse_known = np.flatnonzero((kind == 2) & (person >= 0))
        subscribe = browse_known[rng.random(len(browse_known)) < 0.06]
        add(subscribe, FORM, 20.0, email_kind=1)
        b2b = p["is_b2b"].to_numpy()[person_safe[browse_known]]
        role = browse_known[b2b & (rng.random(len(browse_known)) < 0.1)]
        add(role, FORM, 22.0, email_kind=3)
        events = pd.concat(parts, ignore_index=True)
        return events.sort_values(["session_row", "offset_s"], kind="stable", ignore_index=True)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within runs of equal values (groups must be sorted)."""
    if len(groups) == 0:
        return groups
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    return np.arange(len(groups)) - run_start


def _shared_cookie_users(rng: np.random.Generator, account_holders: np.ndarray) -> np.ndarray:
    """A fixed share of account holders (at least 5 a chunk) log in on one shared computer."""
    candidates = np.flatnonzero(account_holders)
    k = min(len(candidates), max(5, round(SHARED_COOKIE_RATE * len(account_holders))))
    shared = np.zeros(len(account_holders), dtype=bool)
    shared[rng.choice(candidates, k, replace=False)] = True
    return shared


def _company_domain(company_idx: int) -> str | None:
    if company_idx < 0:
        return None
    return f"{company_name(company_idx).replace(' ', '').lower()}{company_idx}.com"


def company_name(company_idx: int) -> str:
    word = COMPANY_WORDS[company_idx % len(COMPANY_WORDS)]
    suffix = COMPANY_SUFFIXES[(company_idx // len(COMPANY_WORDS)) % len(COMPANY_SUFFIXES)]
    return f"{word.title()} {suffix.title()}"


def plant_dirt(rng: np.random.Generator, n: int, table: str) -> np.ndarray:
    """One kind of dirt (or none, 0) per row, at the documented rates."""
    rates = DIRTY_RATES[table]
    codes = [0] + [DIRT_CODES[k] for k in rates]
    probs = [1 - sum(rates.values()), *rates.values()]
    return rng.choice(codes, n, p=probs).astype(np.int8)


def load_rates() -> dict[str, float]:
    rates = pd.read_csv(CURRENCY_RATES_SEED)
    return dict(zip(rates["currency"], rates["usd_per_unit"], strict=True))


# SQL that turns the numeric simulation into export rows. Ids are derived from the person id,
# so chunks are independent and the ground truth can name the same ids.
MACROS = """
create or replace macro customer_id(pid) as cast(((pid + 1) * 16807) % 2147483647 as varchar);
create or replace macro contact_id(pid) as cast(((pid + 1) * 48271) % 2147483647 as varchar);
create or replace macro cookie(seed, owner, device) as
    cast(abs(hash(seed, owner, device)) % 9000000000 + 1000000000 as varchar)
    || '.' || cast(abs(hash(device, owner, seed)) % 900000000 + 1600000000 as varchar);
create or replace macro iso_utc(day) as
    strftime(make_timestamp(cast(day * 86400000000 as bigint)), '%Y-%m-%dT%H:%M:%SZ');
create or replace macro iso_local(day, offset_h) as
    strftime(make_timestamp(cast((day + offset_h / 24.0) * 86400000000 as bigint)),
             '%Y-%m-%dT%H:%M:%S')
    || case when offset_h < 0 then '-' else '+' end
    || lpad(cast(abs(offset_h) as varchar), 2, '0') || ':00';
create or replace macro order_key(i) as cast((getvariable('chunk') + 1) * 10000000 + i as varchar);
create or replace macro send_key(campaign, pid) as campaign || '-' || cast(pid as varchar);
create or replace macro test_order_key(i) as cast(999000000000 + getvariable('chunk') * 100000 + i as varchar);
create or replace macro event_key(i) as md5(getvariable('seed') || '-e' || getvariable('chunk') || '-' || i);
create or replace macro junk_contact_key(i) as cast(900000000000 + getvariable('chunk') * 100000 + i as varchar);
create or replace macro bad_ts(i) as getvariable('bad_timestamps')[1 + cast(i % 4 as integer)];
create or replace macro messy(email) as '  ' || upper(substr(email, 1, 1)) || substr(email, 2) || ' ';
"""
