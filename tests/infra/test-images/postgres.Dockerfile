# PostgreSQL 15 for the container fault tests (Testcontainers.PostgreSql), built from Debian's postgresql-15 package,
# so the tests need no registry: `bash tests/infra/test-images.sh` builds it as dialoguedb.local/postgres:15.
# The entrypoint honours the official image's POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB.
ARG BASE=dialoguedb.local/debian:bookworm-minbase
FROM ${BASE}
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
