{{ publish_candidate('audience_members') }}
