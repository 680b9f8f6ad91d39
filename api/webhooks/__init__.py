"""/api/v1/webhook-endpoints: an org's admins register, test and watch webhook endpoints."""
