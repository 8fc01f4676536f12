{{ publish_candidate('klaviyo__profiles') }}
