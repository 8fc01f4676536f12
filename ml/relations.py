"""Every dbt relation the models read, and the queries over them, named in one place.

dbt builds these (dbt_project/models: the folder gives the schema, dbt_project.yml); a rename
there is a change here and nowhere else in ml/. The business rules (the ranking of offers, the
margins) are dbt models; what is left here is reading. Portable SQL: DuckDB and Postgres.
"""

from __future__ import annotations

from ml.specs import OFFER_SPECS

TRAINING_SNAPSHOTS = "ml.training_snapshots"
SCORING_SNAPSHOT = "ml.scoring_snapshot"
CROSS_SELL_TRAINING_SNAPSHOTS = "ml.cross_sell_training_snapshots"
CROSS_SELL_SCORING_SNAPSHOT = "ml.cross_sell_scoring_snapshot"
CAMPAIGN_SNAPSHOTS = "ml.campaign_snapshots"
OFFER_SCORING_SNAPSHOT = "ml.offer_scoring_snapshot"
CALENDAR = "intermediate.int_calendar__cutoffs"
CUSTOMER_SEGMENTS = "marts.customer_segments"
CUSTOMER_360 = "marts.customer_360"
SHOP_MARGIN_RATE = "marts.shop_margin_rate"
AUDIENCE_MEMBERS = "activation_candidates.audience_members"
NEXT_BEST_OFFERS = "scores.next_best_offers"  # a dbt model over what scoring writes

# the past buyers of the scoring snapshot, whom offers are picked for
BUYERS_SQL = f"""
select customer_key, average_order_value_usd
from {SCORING_SNAPSHOT}
where orders_count > 0
order by customer_key
"""

# the people (the frame `keys`) to pick an offer for, with their consent
OFFER_PEOPLE_SQL = f"""
select snapshot.*, people.is_email_opt_in, people.is_sms_opt_in
from {OFFER_SCORING_SNAPSHOT} as snapshot
inner join keys on keys.customer_key = snapshot.customer_key
inner join {CUSTOMER_360} as people on people.customer_key = snapshot.customer_key
"""

MARGIN_RATE_SQL = f"select margin_rate from {SHOP_MARGIN_RATE}"

# The people an audience will send to, with their offers (a column per model whose offers are
# sent, ml.specs.OFFER_SPECS; the scoring snapshot has one row per person, so the component is
# theirs at the scoring cutoff).
_SENT_OFFERS = [f"offers.{spec.offer_column}" for spec in OFFER_SPECS]
SENT_OFFERS_SQL = f"""
select offers.customer_key, snapshot.component_id, {", ".join(_SENT_OFFERS)}
from {NEXT_BEST_OFFERS} as offers
inner join {SCORING_SNAPSHOT} as snapshot on snapshot.customer_key = offers.customer_key
where ({" or ".join(f"{column} is not null" for column in _SENT_OFFERS)})
  and offers.customer_key in (
      select customer_key from {AUDIENCE_MEMBERS} where is_sendable
  )
order by offers.customer_key
"""
