{{ publish_candidate('salesforce__contacts') }}
