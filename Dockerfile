# One image for every service; docker-compose picks the service with `command:`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Fixed uid/gid so files the services write to a mounted var/ have a predictable owner.
RUN groupadd --gid 10001 ekraf \
 && useradd --uid 10001 --gid ekraf --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin ekraf

WORKDIR /app

# Dependencies before the code, so editing code does not reinstall them. The glob
# copies constraints.txt too when it exists (requirements.txt may refer to it).
COPY requirements.txt constraints.tx[t] ./
RUN pip install --no-cache-dir -r requirements.txt

# Code stays owned by root (read-only to the service); only var/ is writable:
# the SQLite fallback and a generated signing key live there.
COPY . .
# The project itself (its dependencies are the pins above): the `ekraf` command for
# operators, e.g. `docker-compose exec members ekraf status`.
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e . \
 && mkdir -p /app/var && chown ekraf:ekraf /app/var

USER ekraf

# Exec form: nameko is PID 1 and gets SIGTERM itself, so in-flight workers finish.
CMD ["nameko", "run", "--config", "config.yml", "services.members.service"]
