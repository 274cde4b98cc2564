#!/usr/bin/env bash
# Creates one login and one database per service, each database owned by its login.
#
# The postgres image runs this from /docker-entrypoint-initdb.d/ only when its data
# volume is empty. Changing a *_DB_PASSWORD later does not change the role's password:
# run ALTER ROLE by hand, or drop the volume (`docker-compose down -v`, loses data).
#
# All four services are created now, even those not yet in docker-compose.yml, so that
# adding a service later does not need a fresh volume.
set -euo pipefail

# Passwords are passed as psql variables and quoted by psql (:'password'), never
# pasted into the SQL text.
create_service_db() {
    local name=$1 password=$2
    if [ -z "$password" ]; then
        echo "init-databases.sh: empty password for $name" >&2
        exit 1
    fi
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
-- PUBLIC may connect to every database by default; only the owner may connect here.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_service_db members "$MEMBERS_DB_PASSWORD"
create_service_db certification "$CERTIFICATION_DB_PASSWORD"
create_service_db events "$EVENTS_DB_PASSWORD"
create_service_db notifications "$NOTIFICATIONS_DB_PASSWORD"
# The client registry: one login, given to every service (they read it; `ekraf clients`,
# run in any service's container, writes it).
create_service_db registry "$REGISTRY_DB_PASSWORD"

# The service logins have no business in the maintenance databases either; the
# superuser keeps its access (superusers bypass privilege checks).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
SQL
