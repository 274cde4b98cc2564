#!/bin/sh
# Renders the RabbitMQ definitions (users, permissions) with the passwords from the
# environment, then hands over to the image's entrypoint:
#
#   render-definitions.sh TEMPLATE OUTPUT [command ...]
#
# Each service gets a login of its own that may touch only its own queues and
# exchanges (see definitions.template.json and docs/operations.md). Passwords must be
# URL-safe (letters, digits, - _ .): they end up in AMQP URLs, and here in JSON.
set -eu

template=$1 output=$2
shift 2

for variable in RABBITMQ_ADMIN_PASSWORD MEMBERS_AMQP_PASSWORD CERTIFICATION_AMQP_PASSWORD \
        EVENTS_AMQP_PASSWORD NOTIFICATIONS_AMQP_PASSWORD; do
    eval "value=\${$variable:-}"
    if [ -z "$value" ]; then
        echo "render-definitions.sh: $variable is not set" >&2
        exit 1
    fi
    case "$value" in
        *[!A-Za-z0-9._-]*)
            echo "render-definitions.sh: $variable may hold only letters, digits, - _ ." >&2
            exit 1 ;;
    esac
done

umask 077
sed -e "s/@ADMIN_PASSWORD@/$RABBITMQ_ADMIN_PASSWORD/" \
    -e "s/@MEMBERS_PASSWORD@/$MEMBERS_AMQP_PASSWORD/" \
    -e "s/@CERTIFICATION_PASSWORD@/$CERTIFICATION_AMQP_PASSWORD/" \
    -e "s/@EVENTS_PASSWORD@/$EVENTS_AMQP_PASSWORD/" \
    -e "s/@NOTIFICATIONS_PASSWORD@/$NOTIFICATIONS_AMQP_PASSWORD/" \
    "$template" > "$output"
# The broker runs as the rabbitmq user once the image's entrypoint drops root.
if id rabbitmq >/dev/null 2>&1; then
    chown rabbitmq "$output"
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
