{{ publish_candidate('hubspot__contacts') }}
