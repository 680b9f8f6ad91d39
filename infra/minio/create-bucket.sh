#!/bin/sh
# Creates the bucket the app writes reports to. Compose runs this on every `up`, so it must
# succeed when the bucket already exists. It reads the app's own storage variables
# (shared/config.py), so the bucket it creates is the one the app will use.
set -eu

mc alias set reportbox "$S3_ENDPOINT_URL" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
mc mb --ignore-existing "reportbox/$S3_BUCKET"
