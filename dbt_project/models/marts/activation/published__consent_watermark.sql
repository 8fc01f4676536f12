{{ publish_candidate('consent_watermark') }}
