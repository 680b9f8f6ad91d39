#!/usr/bin/env bash
# Start this machine's PostgreSQL and RabbitMQ if they are not answering, the way the
# machine itself starts them, then wait until both accept connections.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! rabbit_up; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
fi
for _ in $(seq 1 60); do
  if pg_up && rabbit_up; then
    # The AMQP port opens before the broker can serve a channel; ask it directly.
    if ! command -v rabbitmqctl >/dev/null || rabbitmqctl -q await_startup >/dev/null 2>&1; then
      echo "PostgreSQL and RabbitMQ are up"
      exit 0
    fi
  fi
  sleep 1
done
echo "PostgreSQL or RabbitMQ did not come up within 60 s" >&2
exit 1
