"""The OpenAPI document, built from what each view declares and what the app enforces."""
