"""Small landing files written by hand, for the ingestion tests."""

from __future__ import annotations

from pathlib import Path

ORDER_HEADER = (
    "order_id,customer_id,email,created_at,currency,subtotal,discount,shipping,total,status,is_test"
)
GOOD_ORDER = "1,c1,a@b.com,2025-01-01T10:00:00+01:00,EUR,10,0,0,10,paid,false"
LINE_HEADER = "order_id,line_id,product_id,quantity,unit_price,discount"
EVENT = (
    '{"event_id": "%s", "event_ts": "%s", "anonymous_id": "a1", "user_id": null, '
    '"session_id": "s1", "event_name": "page_view", "page_path": "/", "product_id": null, '
    '"email": null, "utm_source": null, "utm_medium": null, "utm_campaign": null, '
    '"device": "mobile", "country": "GB"}'
)


def write(landing: Path, folder: str, name: str, text: str | bytes) -> Path:
    path = landing / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path
